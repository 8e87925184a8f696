"""The lean read path survives connections the database dropped (a restart, a kill)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, exc, text

from bookstore.redis.cache import invalidate
from tests.conftest import DATABASE_URL


def _kill_app_connections() -> int:
    engine = create_engine(DATABASE_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'bookstore' AND datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        ).scalar()
    engine.dispose()
    return killed


def test_read_recovers_after_backends_are_killed(client, make):
    book, *_ = [make.book() for _ in range(3)]
    assert client.get(f"/v1/books/{book.id}").status_code == 200
    next_page = client.get("/v1/books?per_page=1").get_json()["links"]["next"]
    assert client.get(next_page).status_code == 200  # a cursor page: the pinned connection
    assert _kill_app_connections() >= 1
    invalidate()  # drop cached responses: the reads below must reach the database
    resp = client.get(f"/v1/books/{book.id}")
    assert resp.status_code == 200 and resp.get_json()["data"]["id"] == book.id
    assert client.get(next_page).status_code == 200
    assert client.get("/v1/books").status_code == 200  # the ORM path recovers too


def test_read_connection_runs_each_statement_outside_a_transaction(app_ctx):
    import time

    from bookstore.db.reads import read_connection

    # In autocommit every statement is its own transaction: its now() is its own start.
    # Inside one transaction, now() stays at the first statement's time.
    with read_connection() as conn:
        conn.execute(text("SELECT 1"))
        time.sleep(0.01)
        own_start = conn.execute(text("SELECT now() = statement_timestamp()")).scalar()
    assert own_start is True


def test_read_paths_hand_connections_back_in_the_drivers_default_state(client, make):
    # psycopg2 sends SET default_transaction_isolation ... at every later autocommit switch
    # of a connection whose isolation level was ever set explicitly (SQLAlchemy's AUTOCOMMIT
    # option does that, and resets it explicitly): a round trip per switch, two per read.
    from bookstore.extensions import db

    book = make.book()
    assert client.get("/v1/books?per_page=5").status_code == 200  # read_connection
    assert client.get(f"/v1/books/{book.id}").status_code == 200  # FastSelect
    pooled = db.engine.raw_connection()
    try:
        driver = pooled.dbapi_connection
        assert driver.isolation_level is None and driver.autocommit is False
    finally:
        pooled.close()


# -- a thread keeps its lean read's connection -----------------------------------------


def _read_book(book_id):
    from sqlalchemy import bindparam, select

    from bookstore.db.reads import FastSelect
    from bookstore.models import Book

    books = Book.__table__
    return FastSelect(select(books).where(books.c.id == bindparam("id"))).first(id=book_id)


@pytest.fixture
def small_pool_app(make_app):
    """An app whose pool holds one connection and waits one second for it."""
    from bookstore.db.reads import PinningQueuePool, release_pinned

    options = {"poolclass": PinningQueuePool, "pool_size": 1, "max_overflow": 0}
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS={**options, "pool_timeout": 1})
    with app.app_context():
        yield app
        release_pinned()


def test_lean_reads_of_a_thread_check_out_one_connection(small_pool_app, make):
    from sqlalchemy import event

    from bookstore.extensions import db

    book = make.book()
    checkouts = []
    event.listen(db.engine, "checkout", lambda *args: checkouts.append(1))
    for _ in range(20):
        assert _read_book(book.id).id == book.id
    assert len(checkouts) == 1
    assert db.engine.pool.checkedout() == 1  # kept by this thread for its next read


def test_a_pinned_read_connection_is_handed_back_when_its_thread_needs_another(
    small_pool_app, make
):
    from bookstore.extensions import db

    book = make.book()
    assert _read_book(book.id).id == book.id  # pins the pool's only connection
    # The session's checkout takes it back instead of waiting for the pool (1 s, then an
    # error): a thread never holds more connections than it did without pinning.
    assert db.session.execute(text("SELECT 1")).scalar() == 1
    assert db.engine.pool.checkedout() == 1
    db.session.remove()
    assert _read_book(book.id).id == book.id


def test_a_read_that_failed_returns_its_connection_in_the_default_state(
    small_pool_app, monkeypatch
):
    from bookstore.db import reads as fastdb
    from bookstore.extensions import db

    def fail(*args, **kwargs):
        raise db.engine.dialect.loaded_dbapi.OperationalError("statement timeout")

    monkeypatch.setattr(fastdb, "run_on_driver", fail)
    with pytest.raises(exc.DBAPIError):
        _read_book(1)
    assert db.engine.pool.checkedout() == 0  # not pinned after a failure
    pooled = db.engine.raw_connection()
    try:
        assert pooled.dbapi_connection.autocommit is False
    finally:
        pooled.close()


# -- statements compiled once per shape (list pages) -------------------------------------


def _shaped_read(shapes, build_where, price):
    """Books at ``price`` through ``shapes``; returns (ids, how many times it was built)."""
    from sqlalchemy import select

    from bookstore.db.reads import read_connection
    from bookstore.models import Book

    books = Book.__table__
    built = []

    def build():
        built.append(1)
        return select(books).where(build_where(books, price)).order_by(books.c.id)

    with read_connection() as conn:
        rows = shapes.rows(conn, ("books-at-price",), build, {"price": price})
    return [row.id for row in rows], len(built)


def test_a_shape_is_built_once_and_each_request_brings_its_values(make):
    from decimal import Decimal

    from sqlalchemy import bindparam

    from bookstore.db.reads import StatementShapes

    cheap, dear = make.book(price="3.50"), make.book(price="77.25")

    def where(books, price):
        return books.c.price == bindparam("price", price, type_=books.c.price.type)

    shapes = StatementShapes()
    assert _shaped_read(shapes, where, Decimal("3.50")) == ([cheap.id], 1)
    # Same shape, another value: not built again, and the rows are the new value's.
    assert _shaped_read(shapes, where, Decimal("77.25")) == ([dear.id], 0)
    assert _shaped_read(shapes, where, Decimal("1.00")) == ([], 0)


def test_values_bound_under_another_name_or_changed_are_never_replayed(make):
    from decimal import Decimal

    from sqlalchemy import bindparam

    from bookstore.db.reads import StatementShapes

    cheap, dear = make.book(price="3.50"), make.book(price="77.25")

    def anonymous(books, price):  # SQLAlchemy names this bind price_1
        return books.c.price == price

    def doubled(books, price):  # bound under its name, but not the value given
        return books.c.price == bindparam("price", price * 2, type_=books.c.price.type)

    for where, first, second in (
        (anonymous, [cheap.id], [dear.id]),
        (doubled, [], []),
    ):
        shapes = StatementShapes()
        ids, built = _shaped_read(shapes, where, Decimal("3.50"))
        assert ids == first and built == 2  # checked once, then run as built
        ids, built = _shaped_read(shapes, where, Decimal("77.25"))
        assert ids == second and built == 1  # built again for this request's value


def test_a_statement_run_on_the_driver_is_seen_by_statement_listeners(make):
    from decimal import Decimal

    from sqlalchemy import bindparam, event

    from bookstore.db.reads import StatementShapes
    from bookstore.extensions import db

    make.book(price="3.50")
    seen = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    def where(books, price):
        return books.c.price == bindparam("price", price, type_=books.c.price.type)

    shapes = StatementShapes()
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        _shaped_read(shapes, where, Decimal("3.50"))
        _shaped_read(shapes, where, Decimal("3.50"))
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(seen) == 2 and all("books.price = %(price)s" in sql for sql in seen)


def test_statements_compiled_once_run_on_the_pinned_connection(small_pool_app, make):
    from decimal import Decimal

    from sqlalchemy import bindparam, event

    from bookstore.db.reads import StatementShapes
    from bookstore.extensions import db

    book = make.book(price="3.50")

    def where(books, price):
        return books.c.price == bindparam("price", price, type_=books.c.price.type)

    shapes = StatementShapes()
    checkouts = []
    event.listen(db.engine, "checkout", lambda *args: checkouts.append(1))
    for _ in range(10):
        assert _shaped_read(shapes, where, Decimal("3.50"))[0] == [book.id]
        assert _read_book(book.id).id == book.id  # the single reads share it
    assert len(checkouts) == 1 and db.engine.pool.checkedout() == 1


def test_a_request_that_also_needs_sqlalchemy_holds_one_connection(small_pool_app, make):
    from bookstore.db.reads import read_connection
    from bookstore.extensions import db

    book = make.book()
    sql = "SELECT id FROM books WHERE id = %(id)s"
    # The pool's only connection, three ways in one request: pinned, then SQLAlchemy's
    # (the pinned one handed back first), then the driver path again on SQLAlchemy's.
    # A second checkout would wait a second for the pool and fail.
    with read_connection() as conn:
        assert conn.run_compiled(sql, {"id": book.id}) == [(book.id,)]
        assert conn.execute(text("SELECT count(*) FROM books")).scalar() == 1
        assert conn.run_compiled(sql, {"id": book.id}) == [(book.id,)]
        assert db.engine.pool.checkedout() == 1
    assert db.engine.pool.checkedout() == 0
    pooled = db.engine.raw_connection()
    try:
        assert pooled.dbapi_connection.autocommit is False  # back in the driver's default
    finally:
        pooled.close()
