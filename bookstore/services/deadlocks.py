"""Run a transaction again once when PostgreSQL broke a deadlock by aborting it.

Account and session changes take their row locks in one order (the user row, then the
family row, then token rows, see docs/auth.md), so a deadlock means a path outside that
order; retrying once turns PostgreSQL's abort into a success instead of a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from bookstore.extensions import db

log = logging.getLogger("bookstore.auth")
T = TypeVar("T")
DEADLOCK_DETECTED = "40P01"


def is_deadlock(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "pgcode", None) == DEADLOCK_DETECTED


def retry_on_deadlock(work: Callable[[], T]) -> T:
    """``work()`` (which commits), run a second time if PostgreSQL aborted it as a deadlock."""
    try:
        return work()
    except DBAPIError as exc:
        if not is_deadlock(exc):
            raise
        db.session.rollback()
        log.warning("deadlock detected: transaction retried once")
        return work()
