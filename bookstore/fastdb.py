"""A lean read path: a Core ``select`` compiled once, run on a pooled DBAPI connection.

The ORM session costs more than the query itself on a single-row read (entity-free
execution, then a BEGIN/ROLLBACK pair and session teardown). Reads on PostgreSQL run here
in autocommit instead: one round trip, no transaction to end. Other databases (the
embedded SQLite default) take the ordinary session path, with its type conversions.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Select, exc

from bookstore.extensions import db


class FastSelect:
    """``FastSelect(select(books).where(books.c.id == bindparam("id"))).first(id=3)``."""

    def __init__(self, stmt: Select[Any]) -> None:
        self.stmt = stmt
        names = [column.name for column in stmt.selected_columns]
        self.row_type = namedtuple("Row", names)  # type: ignore[misc]  # noqa: PYI024
        self._sql: dict[int, str] = {}

    def _compiled(self, engine: Any) -> str:
        key = id(engine)
        if key not in self._sql:
            self._sql[key] = str(self.stmt.compile(dialect=engine.dialect))
        return self._sql[key]

    def first(self, **params: Any) -> Any:
        engine = db.engine
        if engine.dialect.name != "postgresql":
            return db.session.execute(self.stmt, params).first()
        return self._first_postgres(engine, params)

    def all(self, **params: Any) -> list[Any]:
        engine = db.engine
        if engine.dialect.name != "postgresql":
            return list(db.session.execute(self.stmt, params))
        return self._run(engine, params, many=True)

    def _first_postgres(self, engine: Any, params: Mapping[str, Any]) -> Any:
        return self._run(engine, params, many=False)

    def _run(self, engine: Any, params: Mapping[str, Any], many: bool, retry: bool = True) -> Any:
        sql = self._compiled(engine)
        error_class = engine.dialect.loaded_dbapi.Error
        try:
            fairy = engine.raw_connection()
        except error_class as error:  # the pool hands back the driver's own error
            raise exc.DBAPIError.instance(sql, params, error, error_class) from error
        dbapi = fairy.dbapi_connection
        try:
            dbapi.autocommit = True
            with dbapi.cursor() as cursor:
                # Statement listeners (query counters in tests and benchmarks) see this too.
                for listener in engine.dispatch.before_cursor_execute:
                    listener(None, cursor, sql, params, None, False)
                cursor.execute(sql, params)
                rows = cursor.fetchall() if many else cursor.fetchone()
            dbapi.autocommit = False
        except error_class as error:
            lost = engine.dialect.is_disconnect(error, dbapi, None)
            if lost:
                # As SQLAlchemy does: recycle every pooled connection older than this one
                # (a database restart kills them all), then retry the read once.
                engine.pool._invalidate(fairy, error)
                if retry:
                    fairy.close()
                    return self._run(engine, params, many, retry=False)
            raise exc.DBAPIError.instance(
                sql, params, error, error_class, connection_invalidated=lost
            ) from error
        finally:
            fairy.close()
        if many:
            return [self.row_type._make(row) for row in rows]
        return None if rows is None else self.row_type._make(rows)


@contextmanager
def read_connection() -> Iterator[Connection]:
    """A connection for a read-only request's statements, outside any transaction.

    On PostgreSQL a pooled connection in autocommit: each statement is one round trip,
    with no BEGIN before it and no ROLLBACK at teardown (an ORM session costs both), and
    SQLAlchemy's compiled-statement cache still applies. Elsewhere, the session's own.
    """
    if db.engine.dialect.name != "postgresql":
        yield db.session.connection()
        return
    with db.engine.connect() as conn:
        # The driver's own switch, as FastSelect does: SQLAlchemy's AUTOCOMMIT execution
        # option changes the isolation level on checkout and again on return, two calls
        # that cost a list page about a tenth of its CPU.
        dbapi = conn.connection.dbapi_connection
        dbapi.autocommit = True
        try:
            yield conn
        finally:
            if not dbapi.closed:  # a dropped connection is discarded by the pool anyway
                dbapi.autocommit = False
