"""The read path: right rows on PostgreSQL and SQLite, no transaction, dropped connections
recovered, and never more connections than the pool allows."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import bindparam, event, select, text

from bookstore import create_app
from bookstore.db import reads
from bookstore.extensions import db
from bookstore.models import Book
from bookstore.redis.cache import invalidate
from tests.db.backends import Backends
from tests.factories import Factory

BOOKS = Book.__table__
BY_ID = select(BOOKS).where(BOOKS.c.id == bindparam("id"))
BY_PRICE = select(BOOKS.c.id).where(BOOKS.c.price >= bindparam("low")).order_by(BOOKS.c.id)


def _check_rows(make) -> None:
    cheap, dear = make.book(price="3.50"), make.book(price="77.25")
    row = reads.first(BY_ID, id=dear.id)
    assert (row.id, row.title, row.price) == (dear.id, dear.title, Decimal("77.25"))
    assert reads.first(BY_ID, id=dear.id + 1000) is None
    # One statement shape, other values: each execution gets its own rows.
    assert [r.id for r in reads.all_rows(BY_PRICE, low=Decimal("1"))] == [cheap.id, dear.id]
    assert [r.id for r in reads.all_rows(BY_PRICE, low=Decimal("50"))] == [dear.id]
    assert reads.all_rows(BY_PRICE, low=Decimal("100")) == []


def test_reads_return_the_rows_on_postgresql(app_ctx, make):
    assert db.engine.dialect.name == "postgresql"
    _check_rows(make)


@pytest.mark.filterwarnings("ignore:Dialect sqlite\\+pysqlite does \\*not\\*")
def test_reads_return_the_rows_on_sqlite(app, tmp_path):
    url = f"sqlite:///{tmp_path / 'reads.db'}"
    sqlite = create_app({"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": {}})
    with sqlite.app_context():
        db.create_all()
        try:
            _check_rows(Factory())
        finally:
            db.session.remove()
            db.engine.dispose()


def test_each_read_statement_runs_outside_a_transaction(app_ctx):
    # In autocommit every statement is its own transaction: its now() is its own start.
    # Inside one transaction now() stays at the transaction's start, before this statement.
    with reads.read_connection() as conn:
        conn.execute(text("SELECT pg_sleep(0.01)"))
        assert conn.execute(text("SELECT now() = statement_timestamp()")).scalar() is True


@pytest.fixture
def one_connection_app(make_app):
    """An app whose pools (the session's, the reads') hold one connection each."""
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0, "pool_timeout": 5})
    with app.app_context():
        yield app
        db.session.remove()


def test_reads_leave_the_sessions_writes_transactional(one_connection_app, make):
    book = make.book(stock=7)
    assert reads.first(BY_ID, id=book.id).stock == 7  # in autocommit
    # The session's writes are still in a transaction: reads never change its connection.
    db.session.execute(text("UPDATE books SET stock = 0 WHERE id = :id"), {"id": book.id})
    db.session.rollback()
    assert reads.first(BY_ID, id=book.id).stock == 7


def test_read_recovers_after_backends_are_killed(client, make):
    backends = Backends(reads.read_engine())
    book, *_ = [make.book() for _ in range(3)]
    assert client.get(f"/v1/books/{book.id}").status_code == 200
    next_page = client.get("/v1/books?per_page=1").get_json()["links"]["next"]
    assert client.get(next_page).status_code == 200
    backends.kill()  # the pooled connections those reads used
    invalidate()  # drop cached responses: the reads below must reach the database
    resp = client.get(f"/v1/books/{book.id}")
    assert resp.status_code == 200 and resp.get_json()["data"]["id"] == book.id
    backends.kill()
    assert client.get(next_page).status_code == 200  # a page, retried whole
    assert client.get("/v1/books").status_code == 200


def test_concurrent_threads_never_exceed_the_pools(make_app):
    # Each thread holds a session connection while it reads: one from each pool at most,
    # so pools of one connection per thread serve them all without waiting, and no read
    # opens a connection outside them.
    threads, rounds = 4, 15
    app = make_app(
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": threads, "max_overflow": 0, "pool_timeout": 30}
    )
    with app.app_context():
        book = Factory().book()
        db.session.remove()
        db.engine.dispose()  # the read engine's connections go too
        opened, peak, lock = {}, {}, threading.Lock()
        for engine in reads.engines():
            opened[engine], peak[engine], out = [0], [0], [0]

            def checkout(*args, out=out, peak=peak[engine]):
                with lock:
                    out[0] += 1
                    peak[0] = max(peak[0], out[0])

            def checkin(*args, out=out):
                with lock:
                    out[0] -= 1

            def connect(*args, opened=opened[engine]):
                opened[0] += 1

            event.listen(engine, "connect", connect)
            event.listen(engine, "checkout", checkout)
            event.listen(engine, "checkin", checkin)
    errors: list[BaseException] = []

    def work() -> None:
        with app.app_context():
            try:
                for _ in range(rounds):
                    assert db.session.execute(text("SELECT 1")).scalar() == 1
                    assert reads.first(BY_ID, id=book.id).id == book.id
                    assert [r.id for r in reads.all_rows(BY_PRICE, low=0)] == [book.id]
                    db.session.remove()
            except BaseException as error:  # noqa: BLE001 - reported by the main thread
                errors.append(error)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert len(opened) == 2 and sum(n for (n,) in opened.values()) > 0  # both pools served
    assert all(n <= threads for (n,) in opened.values())
    assert all(n <= threads for (n,) in peak.values())
    with app.app_context():
        assert all(engine.pool.checkedout() == 0 for engine in reads.engines())
