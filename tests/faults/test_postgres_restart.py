"""PostgreSQL stopped and started under load, on a cluster of our own (never the shared one).

While clients place orders and read the catalog, the database is shut down (``pg_ctl -m
fast``: connections cut, open transactions rolled back) and started again. During the
outage every answer is a 503 ``SERVICE_UNAVAILABLE`` (or a cached catalog read), never a
500 or a dropped connection; afterwards gunicorn serves again without a restart. No
order answered 201 is lost, and retrying each refused order with its Idempotency-Key
leaves exactly one order per key.
"""

from __future__ import annotations

import threading
import time
import uuid

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


def prepare(url: str) -> tuple[int, str]:
    """Migrate the new database and add a book and a customer: (book id, token)."""
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        make = Factory()
        book, customer = make.book(stock=100_000), make.user()
        token = create_access_token(customer.id, "customer")
        db.session.remove()
        db.engine.dispose()
    return book.id, token


def test_postgres_restart_under_load(cluster):
    book_id, token = prepare(cluster.url)
    server = LiveServer(
        env={"DATABASE_URL": cluster.url, "DB_CONNECT_TIMEOUT": "1"}
        | {name: "100000/minute" for name in RATE_LIMITS},
        workers=2,
    ).start()
    orders: dict[str, tuple[int, int | None]] = {}  # key -> (status, order id)
    lock = threading.Lock()

    def place(key: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
        body = order_body((book_id, 1))
        return requests.post(server.url + "/v1/orders", json=body, headers=headers, timeout=10)

    def traffic(n: int) -> tuple[str, requests.Response]:
        if n % 2:
            path = f"/v1/books/{book_id}" if n % 4 == 1 else "/v1/books?per_page=3"
            return "read", requests.get(server.url + path, timeout=10)
        key = uuid.uuid4().hex
        response = place(key)
        created = response.json()["data"]["id"] if response.status_code == 201 else None
        with lock:
            orders[key] = (response.status_code, created)
        return "order", response

    def serving() -> bool:
        return requests.get(server.url + "/health/ready", timeout=5).status_code == 200

    try:
        with Load(traffic) as load:
            time.sleep(1.5)
            cluster.stop()
            down = time.monotonic()
            time.sleep(2.5)
            up = time.monotonic()  # from here on the database may answer again
            cluster.start()
            wait_until(serving)
            recovered = time.monotonic()
            time.sleep(1.5)
        outcomes = load.outcomes
        # Each refused order, retried with its key: created now, or replayed if it was.
        retried = {key: place(key) for key, (status, _) in orders.items() if status != 201}
    finally:
        server.stop()

    assert [o for o in outcomes if o.status is None] == []  # no dropped connection
    refused = [o for o in outcomes if o.status not in (200, 201)]
    assert {(o.status, o.code) for o in refused} <= {(503, "SERVICE_UNAVAILABLE")}
    assert [o for o in load.between(down + 0.5, up) if o.label == "order"]  # load went on
    assert all(o.status == 503 for o in load.between(down + 0.5, up) if o.label == "order")
    assert all(o.status in (200, 201) for o in load.between(recovered + 0.5))
    assert all(response.status_code == 201 for response in retried.values())

    engine = create_engine(cluster.url)
    with engine.connect() as conn:
        stored = {row.id for row in conn.execute(text("SELECT id FROM orders"))}
        keys = conn.execute(text("SELECT count(*) FROM idempotency_keys")).scalar()
        stock = conn.execute(
            text("SELECT stock FROM books WHERE id = :id"), {"id": book_id}
        ).scalar()
    engine.dispose()
    created = {order_id for status, order_id in orders.values() if status == 201}
    assert created and created <= stored  # no acknowledged order lost
    assert len(stored) == len(orders) == keys  # one order per key, none twice
    assert stock == 100_000 - len(stored)
    assert "database unavailable" in server.log.read_text()
