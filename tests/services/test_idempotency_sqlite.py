"""The idempotent order flow on the embedded SQLite default, migrated by `flask db upgrade`.

Also the pending-order cap and the expiry there, whose SQL differs from PostgreSQL's.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
from decimal import Decimal

import pytest
from sqlalchemy import text

from bookstore import create_app
from bookstore.auth import create_access_token
from bookstore.extensions import db
from bookstore.services.order_expiry import expire_due
from tests.conftest import ROOT, SECRET, IsolatedClient
from tests.factories import Factory
from tests.ordering import order_body

# SQLite has no DECIMAL: SQLAlchemy converts and says so; money is still exact at 2 places.
pytestmark = pytest.mark.filterwarnings("ignore:Dialect sqlite\\+pysqlite does \\*not\\*")


@pytest.fixture
def sqlite_app(app, tmp_path):
    url = f"sqlite:///{tmp_path / 'bookstore.db'}"
    env = {**os.environ, "APP_ENV": "testing", "SECRET_KEY": SECRET, "DATABASE_URL": url}
    env.pop("REDIS_URL", None)
    migrate = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert migrate.returncode == 0, migrate.stderr
    sqlite = create_app({"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": {}})
    sqlite.test_client_class = IsolatedClient
    yield sqlite
    with sqlite.app_context():
        db.engine.dispose()


def _count(app, sql: str) -> int:
    with app.app_context():
        return db.session.execute(text(sql)).scalar_one()


def test_order_and_replay_on_sqlite(sqlite_app):
    with sqlite_app.app_context():
        make = Factory()
        book = make.book(stock=3, price=Decimal("7.25"))
        user = make.user()
        book_id, token = book.id, create_access_token(user.id, "customer")
    client = sqlite_app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "sqlite-1"}
    body = order_body((book_id, 2))

    first = client.post("/v1/orders", json=body, headers=headers)
    assert first.status_code == 201, first.get_data(as_text=True)
    assert first.get_json()["data"]["total"] == "14.50"
    again = client.post("/v1/orders", json=body, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    reused = client.post("/v1/orders", json=order_body((book_id, 1)), headers=headers)
    assert reused.status_code == 422
    short = client.post("/v1/orders", json=body, headers={**headers, "Idempotency-Key": "s-2"})
    assert short.get_json()["error"]["code"] == "OUT_OF_STOCK"
    assert _count(sqlite_app, f"SELECT stock FROM books WHERE id = {book_id}") == 1

    order_url = first.headers["Location"]
    cancel_headers = {**headers, "Idempotency-Key": "sqlite-cancel"}
    cancelled = client.post(f"{order_url}/cancel", headers=cancel_headers)
    assert cancelled.get_json()["data"]["status"] == "cancelled"
    replayed = client.post(f"{order_url}/cancel", headers=cancel_headers)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert _count(sqlite_app, f"SELECT stock FROM books WHERE id = {book_id}") == 3
    assert _count(sqlite_app, "SELECT count(*) FROM orders") == 1


def test_concurrent_identical_requests_on_sqlite_make_one_order(sqlite_app):
    with sqlite_app.app_context():
        make = Factory()
        book_id = make.book(stock=50).id
        token = create_access_token(make.user().id, "customer")
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "sqlite-race"}
    body = order_body((book_id, 1))
    barrier = threading.Barrier(6)
    responses = []

    def send() -> None:
        client = sqlite_app.test_client()
        barrier.wait()
        responses.append(client.post("/v1/orders", json=body, headers=headers))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # SQLite serialises writers: later requests wait for the first, then replay it.
    assert sorted(r.status_code for r in responses) == [201] * 6
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    assert len({r.get_data() for r in responses}) == 1
    assert _count(sqlite_app, "SELECT count(*) FROM orders") == 1
    assert _count(sqlite_app, f"SELECT stock FROM books WHERE id = {book_id}") == 49


def test_pending_cap_and_expiry_on_sqlite(sqlite_app):
    with sqlite_app.app_context():
        make = Factory()
        book_id = make.book(stock=20).id
        token = create_access_token(make.user().id, "customer")
    client = sqlite_app.test_client()

    def order(n: int):
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"cap-{n}"}
        return client.post("/v1/orders", json=order_body((book_id, 2)), headers=headers)

    statuses = [order(n).status_code for n in range(6)]
    assert statuses == [201] * 5 + [409]
    assert order(6).get_json()["error"]["code"] == "TOO_MANY_PENDING_ORDERS"
    assert _count(sqlite_app, f"SELECT stock FROM books WHERE id = {book_id}") == 10

    with sqlite_app.app_context():
        assert expire_due() == 0
        assert expire_due(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)) == 5
    assert _count(sqlite_app, "SELECT count(*) FROM orders WHERE status = 'expired'") == 5
    assert _count(sqlite_app, f"SELECT stock FROM books WHERE id = {book_id}") == 20
    assert order(7).status_code == 201
