"""Unpaid orders expire (bookstore.services.order_expiry), on the real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import psycopg2
import pytest

from bookstore.services.order_expiry import expire_batch, expire_due
from tests.conftest import DATABASE_URL
from tests.ordering import assert_error, caller, execute, place_ok, scalar, stock_of
from tests.services.test_outbox import HOOK, events
from tests.webhook_support import subscribe

pytestmark = pytest.mark.usefixtures("fast_webhooks")


def later(hours: float = 1) -> dt.datetime:
    """A moment past every payment window opened now (the default TTL is 30 minutes)."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)


def status_of(order_id: int) -> str:
    return scalar("SELECT status FROM orders WHERE id = :id", id=order_id)


def expire(app, now: dt.datetime | None = None) -> int:
    with app.app_context():
        return expire_due(now)


def test_an_unpaid_order_expires_with_its_stock_back_and_one_event(
    app, client, admin_headers, make
):
    subscribe(client, admin_headers, HOOK, ["order.expired"])
    book = make.book(stock=5)
    alice = caller(make)
    order = place_ok(client, alice, (book.id, 3))
    assert expire(app) == 0  # its window is still open
    execute("UPDATE orders SET expires_at = now() - interval '1 second'")

    assert expire(app) == 1

    assert (status_of(order["id"]), stock_of(book.id)) == ("expired", 5)
    data = client.get(f"/v1/orders/{order['id']}", headers=alice.headers).get_json()["data"]
    assert data["status"] == "expired" and data["expired_at"].endswith("Z")
    assert data["_links"] == {"self": f"/v1/orders/{order['id']}"}
    [event] = events("order.expired")
    assert event["data"]["id"] == order["id"] and event["data"]["status"] == "expired"
    assert scalar("SELECT count(*) FROM webhook_deliveries") == 1
    assert expire(app, later()) == 0  # expired once, stock returned once
    assert stock_of(book.id) == 5
    for action in ("pay", "cancel"):
        response = client.post(f"/v1/orders/{order['id']}/{action}", headers=alice.headers)
        error = assert_error(response, 409, "INVALID_STATE_TRANSITION")
        assert "expired" in error["message"]


def test_an_order_past_its_deadline_cannot_be_paid_before_the_sweep(client, make):
    book = make.book(stock=5)
    alice = caller(make)
    order = place_ok(client, alice, (book.id, 1))
    execute("UPDATE orders SET expires_at = now() - interval '1 second'")

    response = client.post(f"/v1/orders/{order['id']}/pay", headers=alice.headers)

    error = assert_error(response, 409, "INVALID_STATE_TRANSITION")
    assert "payment window has closed" in error["message"]
    assert status_of(order["id"]) == "pending"  # left for the sweep, which returns the stock


def test_the_window_is_the_payment_ttl_after_placing(app, client, make, monkeypatch):
    monkeypatch.setitem(app.config, "ORDER_PAYMENT_TTL", 90)
    order = place_ok(client, caller(make), (make.book().id, 1))
    created = dt.datetime.fromisoformat(order["created_at"])
    assert dt.datetime.fromisoformat(order["expires_at"]) - created == dt.timedelta(seconds=90)
    window = "SELECT extract(epoch FROM expires_at - created_at) FROM orders"
    assert scalar(window) == 90


def test_paid_cancelled_and_shipped_orders_never_expire(app, client, admin_headers, make):
    book = make.book(stock=10)
    alice = caller(make)
    paid, cancelled, shipped = (place_ok(client, alice, (book.id, 1)) for _ in range(3))
    client.post(f"/v1/orders/{paid['id']}/pay", headers=alice.headers)
    client.post(f"/v1/orders/{cancelled['id']}/cancel", headers=alice.headers)
    client.post(f"/v1/orders/{shipped['id']}/pay", headers=alice.headers)
    client.post(f"/v1/orders/{shipped['id']}/ship", headers=admin_headers)

    assert expire(app, later()) == 0

    statuses = [status_of(o["id"]) for o in (paid, cancelled, shipped)]
    assert statuses == ["paid", "cancelled", "shipped"]
    assert stock_of(book.id) == 8


def test_an_order_locked_elsewhere_is_skipped_not_waited_for(app, client, make):
    book = make.book(stock=5)
    first, second = (place_ok(client, caller(make), (book.id, 1)) for _ in range(2))
    holder = psycopg2.connect(DATABASE_URL)
    try:
        with holder.cursor() as cursor:  # as a request paying it right now would
            cursor.execute("SELECT 1 FROM orders WHERE id = %s FOR UPDATE", (first["id"],))
        done: list[int] = []
        worker = threading.Thread(target=lambda: done.append(expire(app, later())))
        worker.start()
        worker.join(timeout=30)
        assert done == [1]  # a blocking lock would still be waiting here
        assert (status_of(first["id"]), status_of(second["id"])) == ("pending", "expired")
        holder.rollback()  # releases the lock now; a closed connection's lock lingers a while
    finally:
        holder.close()
    assert expire(app, later()) == 1
    assert stock_of(book.id) == 5


def test_concurrent_workers_expire_each_order_exactly_once(app, client, admin_headers, make):
    subscribe(client, admin_headers, HOOK, ["order.expired"])
    books = [make.book(stock=100) for _ in range(3)]
    customers = [caller(make) for _ in range(6)]
    for customer in customers:
        for book in books:
            place_ok(client, customer, (book.id, 2), *[(b.id, 1) for b in books if b != book])
    cutoff = later()
    barrier = threading.Barrier(3)
    counts: list[int] = []

    def work() -> None:
        with app.app_context():
            barrier.wait()
            total = 0
            while count := expire_batch(cutoff, limit=2):
                total += count
            counts.append(total)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(counts) == 18 and len(counts) == 3
    assert scalar("SELECT count(*) FROM orders WHERE status = 'expired'") == 18
    assert [stock_of(book.id) for book in books] == [100, 100, 100]
    expired = [event["data"]["id"] for event in events("order.expired")]
    assert sorted(expired) == sorted(set(expired)) and len(expired) == 18


def _race_pay_and_expiry(app, who, order_id: int) -> tuple[object, int]:
    """POST pay and run the expiry at the same moment; (the pay response, orders expired)."""
    barrier = threading.Barrier(2)
    result: dict[str, object] = {}

    def pay() -> None:
        payer = app.test_client()
        barrier.wait()
        result["pay"] = payer.post(f"/v1/orders/{order_id}/pay", headers=who.headers)

    def expire_now() -> None:
        with app.app_context():
            barrier.wait()
            result["expired"] = expire_due(later())

    threads = [threading.Thread(target=pay), threading.Thread(target=expire_now)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return result["pay"], result["expired"]


def test_pay_racing_the_expiry_either_wins_or_is_409(app, client, admin_headers, make):
    subscribe(client, admin_headers, HOOK, ["order.expired"])
    book = make.book(stock=1000)
    for _ in range(20):
        alice = caller(make)
        order = place_ok(client, alice, (book.id, 1))
        before = stock_of(book.id)

        paid, expired = _race_pay_and_expiry(app, alice, order["id"])

        mine = [e for e in events("order.expired") if e["data"]["id"] == order["id"]]
        if paid.status_code == 200:
            assert paid.get_json()["data"]["status"] == "paid"
            assert (status_of(order["id"]), expired, mine) == ("paid", 0, [])
            assert stock_of(book.id) == before
        else:
            assert_error(paid, 409, "INVALID_STATE_TRANSITION")
            assert (status_of(order["id"]), expired, len(mine)) == ("expired", 1, 1)
            assert stock_of(book.id) == before + 1
