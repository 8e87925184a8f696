"""PostgreSQL stopped and started under load, on a cluster of our own (never the shared one).

While clients place orders and read the catalog, the database is shut down (``pg_ctl -m
fast``: connections cut, open transactions rolled back) and started again, several times.
Every request gets an answer: 200/201, or during an outage a 503 ``SERVICE_UNAVAILABLE``
envelope with Retry-After (or a cached catalog read), never a 500 or a closed connection;
no worker dies and gunicorn serves again without a restart. No order answered 201 is
lost, none is half-written (its total is its lines', stock is conserved), and retrying
each refused order with its Idempotency-Key leaves exactly one order per key.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from bookstore import create_app
from bookstore.auth import create_access_token
from bookstore.config import RATE_LIMITS
from bookstore.extensions import db
from tests.conftest import LiveServer
from tests.factories import Factory
from tests.faults.load import Load, wait_until
from tests.faults.pg_cluster import PgCluster
from tests.ordering import order_body

pytestmark = pytest.mark.e2e


@pytest.fixture
def cluster():
    pg = PgCluster().init()
    try:
        pg.start()
        yield pg
    finally:
        pg.destroy()


BOOK_STOCK = 100_000
CYCLES = 3  # stops and starts of the database while the load runs
PHASE_ORDERS = 20  # orders answered with the database up, then down, before moving on
LINES = ((0, 1), (1, 2))  # (book, quantity) of every order: two lines, so half of one shows
# What gunicorn logs when a request dies without an answer or a worker is lost.
CRASH_SIGNS = ("Traceback", "Socket error", "Error handling request", "WORKER TIMEOUT", "exited")


def prepare(url: str) -> tuple[list[int], str]:
    """Migrate the new database and add two books and a customer: (book ids, token)."""
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        make = Factory()
        books = [make.book(stock=BOOK_STOCK) for _ in range(2)]
        customer = make.user()
        token = create_access_token(customer.id, "customer")
        db.session.remove()
        db.engine.dispose()
    return [book.id for book in books], token


def stored_state(url: str) -> dict[str, Any]:
    engine = create_engine(url)
    with engine.connect() as conn:
        state = {
            "orders": {row.id for row in conn.execute(text("SELECT id FROM orders"))},
            "keys": conn.execute(text("SELECT count(*) FROM idempotency_keys")).scalar(),
            # Orders whose total is not the sum of their lines, or with a line missing.
            "torn": conn.execute(
                text(
                    "SELECT o.id FROM orders o LEFT JOIN order_items i ON i.order_id = o.id "
                    "GROUP BY o.id, o.total "
                    "HAVING count(i.id) <> :lines "
                    "OR o.total <> coalesce(sum(i.unit_price * i.quantity), 0)"
                ),
                {"lines": len(LINES)},
            ).all(),
            # Per book: the stock plus every copy ordered, which must be the initial stock.
            "stock": dict(
                conn.execute(
                    text(
                        "SELECT b.id, b.stock + coalesce(sum(i.quantity), 0) FROM books b "
                        "LEFT JOIN order_items i ON i.book_id = b.id GROUP BY b.id, b.stock"
                    )
                ).all()
            ),
        }
    engine.dispose()
    return state


def answered_orders(load: Load, since: float) -> Callable[[], bool]:
    """Whether PHASE_ORDERS orders sent from ``since`` on have had their answer."""
    return lambda: len([o for o in load.between(since) if o.label == "order"]) >= PHASE_ORDERS


def test_postgres_restarts_under_load(cluster):
    book_ids, token = prepare(cluster.url)
    server = LiveServer(
        # One customer places every order: no cap on its pending ones.
        env={"DATABASE_URL": cluster.url, "DB_CONNECT_TIMEOUT": "1", "ORDER_MAX_PENDING": "100000"}
        | {name: "100000/minute" for name in RATE_LIMITS},
        workers=2,
    ).start()
    workers = sorted(server.worker_pids())
    orders: dict[str, tuple[int, int | None]] = {}  # key -> (status, order id)
    lock = threading.Lock()
    auth = {"Authorization": f"Bearer {token}"}

    def place(key: str) -> requests.Response:
        body = order_body(*((book_ids[book], quantity) for book, quantity in LINES))
        headers = {**auth, "Idempotency-Key": key}
        return requests.post(server.url + "/v1/orders", json=body, headers=headers, timeout=10)

    def traffic(n: int) -> tuple[str, requests.Response]:
        kind = n % 4
        if kind == 1:
            return "read", requests.get(f"{server.url}/v1/books/{book_ids[0]}", timeout=10)
        if kind == 2:
            return "read", requests.get(server.url + "/v1/books?per_page=3", timeout=10)
        if kind == 3:  # authenticated: the session and a page, on one request
            return "read", requests.get(
                server.url + "/v1/orders?per_page=2", headers=auth, timeout=10
            )
        key = uuid.uuid4().hex
        response = place(key)
        created = response.json()["data"]["id"] if response.status_code == 201 else None
        with lock:
            orders[key] = (response.status_code, created)
        return "order", response

    def serving() -> bool:
        return requests.get(server.url + "/health/ready", timeout=5).status_code == 200

    outages = []
    try:
        with Load(traffic, threads=6, pause=0.005) as load:
            for _ in range(CYCLES):
                wait_until(answered_orders(load, time.monotonic()), timeout=60)
                cluster.stop()
                down = time.monotonic()
                wait_until(answered_orders(load, down + 0.5), timeout=60)
                up = time.monotonic()  # from here on the database may answer again
                cluster.start()
                wait_until(serving)
                outages.append((down, up))
            recovered = time.monotonic()
            wait_until(answered_orders(load, recovered + 0.5), timeout=60)
        outcomes = load.outcomes
        # Each refused order, retried with its key: created now, or replayed if it was.
        refused_keys = [key for key, (status, _) in orders.items() if status != 201]
        with ThreadPoolExecutor(max_workers=6) as pool:
            retried = dict(zip(refused_keys, pool.map(place, refused_keys), strict=True))
        still_workers = sorted(server.worker_pids())
    finally:
        server.stop()
    log = server.log.read_text()

    assert [o for o in outcomes if o.status is None] == []  # every request got an answer
    refused = [o for o in outcomes if o.status not in (200, 201)]
    assert {(o.status, o.code) for o in refused} <= {(503, "SERVICE_UNAVAILABLE")}
    assert all(o.retry_after for o in refused)
    for down, up in outages:
        during = [o for o in load.between(down + 0.5, up) if o.label == "order"]
        assert during and all(o.status == 503 for o in during)  # load went on, refused
    assert all(o.status in (200, 201) for o in load.between(recovered + 0.5))
    assert all(response.status_code == 201 for response in retried.values())
    assert still_workers == workers  # no worker died
    assert [line for line in log.splitlines() if any(s in line for s in CRASH_SIGNS)] == []
    assert "database unavailable" in log

    state = stored_state(cluster.url)
    created = {order_id for status, order_id in orders.values() if status == 201}
    assert created and created <= state["orders"]  # no acknowledged order lost
    assert len(state["orders"]) == len(orders) == state["keys"]  # one order per key
    assert state["torn"] == []  # no order half-written
    assert state["stock"] == {book_id: BOOK_STOCK for book_id in book_ids}  # stock conserved
