"""The read path: Core selects run outside any transaction, on public SQLAlchemy API only.

On PostgreSQL a read runs on a connection of :func:`autocommit_engine`, the app's engine
with ``isolation_level="AUTOCOMMIT"``: it shares the engine's pool, dialect, events and
compiled cache, and each statement is one round trip with no BEGIN or ROLLBACK around it.
SQLAlchemy compiles each statement shape once (its compiled cache, keyed by the
statement's cache key); a request's values are bound parameters. Elsewhere (the embedded
SQLite default) reads run on the request's session connection.

A read whose pooled connection the database had closed (a restart, a killed backend) is
run once more: SQLAlchemy has invalidated that connection and every pooled one opened
before it, so the second attempt connects afresh, or fails with an error the error
handlers answer with 503.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, Executable, Row
from sqlalchemy.exc import DBAPIError

from bookstore.extensions import db

T = TypeVar("T")

_autocommit: WeakKeyDictionary[Engine, Engine] = WeakKeyDictionary()


def uses_autocommit(engine: Engine) -> bool:
    """Whether reads on ``engine`` get their own autocommit connection (PostgreSQL)."""
    return engine.dialect.name == "postgresql"


def autocommit_engine(engine: Engine) -> Engine:
    """``engine`` in autocommit, sharing its pool (made once per engine)."""
    derived = _autocommit.get(engine)
    if derived is None:
        derived = _autocommit[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return derived


@contextmanager
def read_connection() -> Iterator[Connection]:
    """Where one read runs: an autocommit connection (PostgreSQL) or the session's own."""
    engine = db.engine
    if not uses_autocommit(engine):
        yield db.session.connection()
        return
    with autocommit_engine(engine).connect() as conn:
        yield conn


def run_read(work: Callable[[Connection], T]) -> T:
    """``work(conn)`` on a read connection; run once more if that connection was dropped.

    ``work`` must only read: it may run twice.
    """
    try:
        with read_connection() as conn:
            return work(conn)
    except DBAPIError as error:
        if not (error.connection_invalidated and uses_autocommit(db.engine)):
            raise
    with read_connection() as conn:
        return work(conn)


def first(stmt: Executable, **params: Any) -> Row[Any] | None:
    """The first row of ``stmt`` run with ``params``, or None."""
    return run_read(lambda conn: conn.execute(stmt, params).first())


def all_rows(stmt: Executable, **params: Any) -> list[Row[Any]]:
    """Every row of ``stmt`` run with ``params``."""
    return run_read(lambda conn: list(conn.execute(stmt, params)))
