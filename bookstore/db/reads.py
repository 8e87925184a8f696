"""A lean read path: a Core ``select`` compiled once, run on a pooled DBAPI connection.

The ORM session costs more than the query itself on a single-row read (entity-free
execution, then a BEGIN/ROLLBACK pair and session teardown). Reads on PostgreSQL run here
in autocommit instead: one round trip, no transaction to end. Other databases (the
embedded SQLite default) take the ordinary session path, with its type conversions.

Each thread keeps the connection of its last lean read checked out for up to
:data:`PIN_SECONDS` and reuses it: the pool's checkout and check-in cost a single-row read
about 6 % of its instructions. :class:`PinningQueuePool` takes the pinned connection back
before the same thread checks out any other, so a thread never holds more than it did
before (one, or two while a request's session and a lean read overlap).
"""

from __future__ import annotations

import threading
import time
from collections import namedtuple
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Select, exc
from sqlalchemy.pool import QueuePool

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

    def _run(self, engine: Any, params: Mapping[str, Any], many: bool) -> Any:
        rows = run_pinned(engine, self._compiled(engine), params, many)
        if many:
            return [self.row_type._make(row) for row in rows]
        return None if rows is None else self.row_type._make(rows)


def run_pinned(
    engine: Any, sql: str, params: Mapping[str, Any], many: bool, retry: bool = True
) -> Any:
    """``sql`` in autocommit on this thread's pinned connection (PostgreSQL only).

    A connection the database dropped (a restart) is invalidated and the read tried once
    more on a fresh one; any failure hands the pinned connection back at once.
    """
    error_class = engine.dialect.loaded_dbapi.Error
    try:
        fairy = pinned_connection(engine)
    except error_class as error:  # the pool hands back the driver's own error
        raise exc.DBAPIError.instance(sql, params, error, error_class) from error
    dbapi = fairy.dbapi_connection
    try:
        dbapi.autocommit = True
        rows = run_on_driver(engine, dbapi, sql, params, many)
        dbapi.autocommit = False
    except error_class as error:
        lost = engine.dialect.is_disconnect(error, dbapi, None)
        if lost:
            # As SQLAlchemy does: recycle every pooled connection older than this one
            # (a database restart kills them all), then retry the read once.
            engine.pool._invalidate(fairy, error)
        release_pinned()
        if lost and retry:
            return run_pinned(engine, sql, params, many, retry=False)
        raise exc.DBAPIError.instance(
            sql, params, error, error_class, connection_invalidated=lost
        ) from error
    except BaseException:
        release_pinned()
        raise
    return rows


# How long a thread keeps its lean read's connection between reads: long enough that
# the pool's checkout is paid about once a second per busy thread, short enough that the
# pool's recycling (DB_POOL_RECYCLE) and a disposed engine are noticed at once.
PIN_SECONDS = 1.0
_pinned = threading.local()


def pinned_connection(engine: Any) -> Any:
    """This thread's pooled connection for lean reads on ``engine``, checked out if needed."""
    fairy = getattr(_pinned, "fairy", None)
    if fairy is not None:
        if _pinned.pool is engine.pool and time.monotonic() < _pinned.until:
            return fairy
        release_pinned()
    fairy = engine.raw_connection()
    _pinned.fairy, _pinned.pool = fairy, engine.pool
    _pinned.until = time.monotonic() + PIN_SECONDS
    return fairy


def release_pinned() -> None:
    """Give this thread's pinned connection back to its pool, in the driver's default state."""
    fairy = getattr(_pinned, "fairy", None)
    if fairy is None:
        return
    _pinned.fairy = _pinned.pool = None
    dbapi = fairy.dbapi_connection
    if dbapi is not None and not dbapi.closed and dbapi.autocommit:
        dbapi.autocommit = False  # a read that failed part-way (a statement timeout)
    fairy.close()


class PinningQueuePool(QueuePool):
    """``QueuePool`` that takes back the checking-out thread's pinned read connection first.

    A thread that needs a connection for anything else (a session, ``engine.connect()``)
    hands its pinned one back before it waits for one, so pinning never costs the pool a
    connection: the pool stays sized to the threads.
    """

    def _do_get(self) -> Any:
        release_pinned()
        return super()._do_get()


def run_on_driver(engine: Any, dbapi: Any, sql: str, params: Mapping[str, Any], many: bool) -> Any:
    """``sql`` on a driver cursor: ``fetchall()`` if ``many``, else ``fetchone()``."""
    with dbapi.cursor() as cursor:
        # Statement listeners (query counters in tests and benchmarks) see this too.
        for listener in engine.dispatch.before_cursor_execute:
            listener(None, cursor, sql, params, None, False)
        cursor.execute(sql, params)
        return cursor.fetchall() if many else cursor.fetchone()


class StatementShapes:
    """Statements rebuilt on every request, compiled once per *shape* and run on the driver.

    A list page builds its ``select()`` anew each time (filters, cursor condition, order,
    limit); SQLAlchemy then walks the whole tree for its cache key and runs the result
    through its execution context and row machinery: together about a third of the CPU of
    a 20-row page. Here the caller names the shape (which parameters are present, the sort,
    the direction), passes ``build`` (the statement with this request's values) and the
    same values by name in ``params``. The statement is built, compiled and checked once
    per shape; later requests of that shape only supply ``params``.

    A shape is kept only if every bound parameter of the compiled statement is in
    ``params`` under its own name with the value given there, so a value bound under
    another name or transformed on the way is never replayed for another request (values
    written into SQL text are the caller's to avoid, as they are anyway). Such shapes, and
    every database but PostgreSQL, run ``build()`` through SQLAlchemy each time. Values
    are converted by the bind processors SQLAlchemy would apply; rows come back as named
    tuples of the driver's values, as :class:`FastSelect` returns them.
    """

    KEPT = 512  # shapes kept; cleared when full

    def __init__(self) -> None:
        self._shapes: dict[Hashable, tuple[str, dict[str, Any], Any] | None] = {}

    def rows(
        self,
        conn: ReadConnection,
        shape: Hashable | None,
        build: Callable[[], Select[Any]],
        params: Mapping[str, Any],
    ) -> list[Any]:
        if shape is None or conn.dialect.name != "postgresql":
            return list(conn.execute(build()))
        if shape not in self._shapes:
            if len(self._shapes) >= self.KEPT:
                self._shapes.clear()
            self._shapes[shape] = self._compile(build(), conn.dialect, params)
        compiled = self._shapes[shape]
        if compiled is None:
            return list(conn.execute(build()))
        sql, processors, row_type = compiled
        if processors:
            params = dict(params)
            for name, processor in processors.items():
                params[name] = processor(params[name])
        return [row_type._make(row) for row in conn.run_compiled(sql, params)]

    @staticmethod
    def _compile(stmt: Select[Any], dialect: Any, params: Mapping[str, Any]) -> Any:
        compiled = stmt.compile(dialect=dialect)
        processors = {}
        for name, bind in compiled.binds.items():
            if name not in params:
                return None
            if bind.value != params[name]:  # transformed on the way into the statement
                return None
            if bind.expanding or bind.literal_execute:  # rendered anew at each execution
                return None
            processor = bind.type.bind_processor(dialect)  # as SQLAlchemy would convert it
            if processor is not None:
                processors[name] = processor
        try:
            row_type = namedtuple("Row", [c.name for c in stmt.selected_columns])  # type: ignore[misc]  # noqa: PYI024
        except ValueError:  # names that are not distinct identifiers
            return None
        return compiled.string, processors, row_type


class ReadConnection:
    """Where a read-only request's statements run: outside any transaction, on one connection.

    On PostgreSQL, statements compiled once (:class:`StatementShapes`) run on this thread's
    pinned connection, as :class:`FastSelect` reads do: a cursor page checks nothing out of
    the pool. The first statement that needs SQLAlchemy (a count, a statement built anew)
    opens a pooled connection in autocommit (the pool takes the pinned one back first), and
    every later statement of the request runs on that one: a thread never holds two. Each
    statement is its own round trip, with no BEGIN before it and no ROLLBACK after.
    Elsewhere (SQLite), everything runs on the session's connection.
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self._conn: Connection | None = None
        self._owned = False

    def connection(self) -> Connection:
        """A SQLAlchemy connection for this request's statements, opened at first need."""
        if self._conn is None:
            if self.dialect.name != "postgresql":
                self._conn = db.session.connection()
            else:
                self._conn, self._owned = self.engine.connect(), True
                # The driver's own switch, as FastSelect does: SQLAlchemy's AUTOCOMMIT
                # execution option changes the isolation level on checkout and again on
                # return, two calls that cost a list page about a tenth of its CPU.
                self._conn.connection.dbapi_connection.autocommit = True
        return self._conn

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        return self.connection().execute(statement, *args, **kwargs)

    def run_compiled(self, sql: str, params: Mapping[str, Any]) -> list[Any]:
        """The rows of ``sql``, compiled for this dialect, run on the driver (PostgreSQL)."""
        conn = self._conn
        if conn is None:
            return run_pinned(self.engine, sql, params, many=True)
        dbapi = conn.connection.dbapi_connection
        error_class = self.dialect.loaded_dbapi.Error
        try:
            return run_on_driver(self.engine, dbapi, sql, params, many=True)
        except error_class as error:
            lost = self.dialect.is_disconnect(error, dbapi, None)
            if lost:
                conn.invalidate(error)
            raise exc.DBAPIError.instance(
                sql, params, error, error_class, connection_invalidated=lost
            ) from error

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None or not self._owned:
            return
        dbapi = conn.connection.dbapi_connection if not conn.invalidated else None
        if dbapi is not None and not dbapi.closed:  # a dropped one is discarded anyway
            dbapi.autocommit = False
        conn.close()


@contextmanager
def read_connection() -> Iterator[ReadConnection]:
    """A :class:`ReadConnection` for a read-only request's statements."""
    conn = ReadConnection(db.engine)
    try:
        yield conn
    finally:
        conn.close()
