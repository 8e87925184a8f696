"""The read path: Core selects run outside any transaction, on public SQLAlchemy API only.

On PostgreSQL reads run on the app's read engine: the same database URL and pool options
as ``db.engine``, created with ``isolation_level="AUTOCOMMIT"``, so its connections are
in autocommit from the moment they connect. Each statement is one round trip, with no
BEGIN or ROLLBACK around it. SQLAlchemy compiles each statement shape once (its compiled
cache, keyed by the statement's cache key); a request's values are bound parameters.
Elsewhere (the embedded SQLite default) reads run on the request's session connection.

The read engine has a pool of its own: ``engine.execution_options(isolation_level=...)``
would share ``db.engine``'s pool but switch each connection at checkout and back at
checkin, a round trip each way with psycopg2, and a switch back that fails on a
connection the database closed escapes ``Connection.close()`` and loses the pool slot.

A read whose pooled connection the database had closed (a restart, a killed backend) is
run once more: SQLAlchemy has invalidated that connection and every pooled one opened
before it, so the second attempt connects afresh, or fails with an error the error
handlers answer with 503.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import Flask, current_app
from sqlalchemy import Connection, Engine, Executable, Row, create_engine, event
from sqlalchemy.exc import DBAPIError

from bookstore.extensions import db

T = TypeVar("T")
EXTENSION = "bookstore_read_engine"


def init_app(app: Flask) -> None:
    """Create the app's read engine (PostgreSQL); call after ``db.init_app``."""
    with app.app_context():
        engine = db.engine
        reader = None
        if engine.dialect.name == "postgresql":
            options = {**app.config["SQLALCHEMY_ENGINE_OPTIONS"], "isolation_level": "AUTOCOMMIT"}
            reader = create_engine(engine.url, **options)
            # Tests and the CLI dispose db.engine to drop its connections: these go too.
            event.listen(engine, "engine_disposed", lambda conn: reader.dispose())
    app.extensions[EXTENSION] = reader


def read_engine() -> Engine | None:
    """The current app's read engine, or None where reads use the session (SQLite)."""
    return current_app.extensions[EXTENSION]


def engines() -> list[Engine]:
    """Every engine this app's statements run on (for statement listeners)."""
    reader = read_engine()
    return [db.engine] if reader is None else [db.engine, reader]


@contextmanager
def read_connection() -> Iterator[Connection]:
    """Where one read runs: an autocommit connection (PostgreSQL) or the session's own."""
    reader = read_engine()
    if reader is None:
        yield db.session.connection()
        return
    with reader.connect() as conn:
        yield conn


def run_read(work: Callable[[Connection], T]) -> T:
    """``work(conn)`` on a read connection; run once more if that connection was dropped.

    ``work`` must only read: it may run twice.
    """
    try:
        with read_connection() as conn:
            return work(conn)
    except DBAPIError as error:
        if not (error.connection_invalidated and read_engine() is not None):
            raise
    with read_connection() as conn:
        return work(conn)


def first(stmt: Executable, **params: Any) -> Row[Any] | None:
    """The first row of ``stmt`` run with ``params``, or None."""
    return run_read(lambda conn: conn.execute(stmt, params).first())


def all_rows(stmt: Executable, **params: Any) -> list[Row[Any]]:
    """Every row of ``stmt`` run with ``params``."""
    return run_read(lambda conn: list(conn.execute(stmt, params)))
