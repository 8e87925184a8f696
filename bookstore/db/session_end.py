"""Ending a request's session without an exception, whatever state its connection is in.

Flask-SQLAlchemy removes the session when the app context ends; a session still in a
transaction rolls back first. If the database has just closed that connection (a
restart), the rollback raises, and an exception raised there escapes the WSGI app after
the response was built: the client gets no answer at all. These helpers end the session
first, and if its rollback fails they invalidate its connections instead (no statement
sent), so the request's own answer (200, or 503 from the error handlers) is what is sent.
"""

from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from bookstore.extensions import db

log = logging.getLogger("bookstore.db")


def rollback_session() -> None:
    """Roll the request's session back; if that fails, discard its connections."""
    try:
        db.session.rollback()
    except SQLAlchemyError as error:
        _discard(error)


def remove_session(exc: BaseException | None = None) -> None:
    """End the request's session (a ``teardown_appcontext`` hook): never raises."""
    try:
        db.session.remove()
    except SQLAlchemyError as error:
        _discard(error)
        db.session.remove()


def _discard(error: SQLAlchemyError) -> None:
    log.warning("database session discarded: %s", type(error).__name__)
    db.session().invalidate()  # the Session itself: scoped_session does not proxy this


def init_app(app: Flask) -> None:
    """Register :func:`remove_session`; call after ``db.init_app`` so it runs first."""
    app.teardown_appcontext(remove_session)
