"""API6:2023 Unrestricted Access to Sensitive Business Flows: buying and signing up.

A bot that buys up the stock or mass-creates accounts is slowed by the write limit (60
per minute per customer, per client IP when anonymous, by default) on top of the
per-order bounds (50 lines of at most 100 copies, tests/security/test_api4_*). Unpaid
orders cannot hoard the stock: a customer holds at most ORDER_MAX_PENDING pending orders,
and each expires after ORDER_PAYMENT_TTL, its stock returned. What is refused is refused
whole: no order and no account beyond the limit. Also proven elsewhere: a retried order
or payment never takes effect twice (tests/services/test_idempotency.py), stock is never
oversold under concurrency (tests/services/test_orders_live.py), expiry racing payment
(tests/services/test_order_expiry.py).
"""

from __future__ import annotations

import datetime as dt

import pytest

from bookstore.services.order_expiry import expire_due
from tests.ordering import order_body, scalar, stock_of
from tests.sessions import PASSWORD, assert_error

WRITE_LIMIT = 60  # RATELIMIT_WRITE's default
MAX_PENDING = 5  # ORDER_MAX_PENDING's default


def _order(client, who, book_id: int, copies: int = 1):
    return client.post("/v1/orders", json=order_body((book_id, copies)), headers=who.with_key())


@pytest.fixture
def no_pending_cap(app, monkeypatch) -> None:
    """Lift the pending-order cap, to reach the write limit with one customer's orders."""
    monkeypatch.setitem(app.config, "ORDER_MAX_PENDING", 10 * WRITE_LIMIT)


def test_a_hoarding_bot_holds_at_most_the_pending_cap(client, alice, bob, make):
    book = make.book(stock=1000)
    statuses = [_order(client, alice, book.id, 100).status_code for _ in range(MAX_PENDING + 3)]
    assert statuses == [201] * MAX_PENDING + [409] * 3
    assert stock_of(book.id) == 1000 - 100 * MAX_PENDING
    refused = _order(client, alice, book.id)
    error = assert_error(refused, 409, "TOO_MANY_PENDING_ORDERS")
    assert str(MAX_PENDING) in error["message"]
    assert scalar("SELECT count(*) FROM orders") == MAX_PENDING
    # Someone else can still buy what is left.
    mine = _order(client, bob, book.id)
    assert mine.status_code == 201, mine.get_data(as_text=True)


def test_a_paid_or_expired_order_frees_a_pending_slot(app, client, alice, make):
    book = make.book(stock=100)
    placed = [_order(client, alice, book.id) for _ in range(MAX_PENDING)]
    first, second = (response.get_json()["data"]["id"] for response in placed[:2])
    full = _order(client, alice, book.id)
    assert_error(full, 409, "TOO_MANY_PENDING_ORDERS")

    assert client.post(f"/v1/orders/{first}/pay", headers=alice.headers).status_code == 200
    again = _order(client, alice, book.id)
    assert again.status_code == 201
    with app.app_context():
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        assert expire_due(later) == MAX_PENDING  # every pending order, the new one too
    assert scalar("SELECT status FROM orders WHERE id = :id", id=second) == "expired"
    assert stock_of(book.id) == 99  # only the paid copy is gone
    last = _order(client, alice, book.id)
    assert last.status_code == 201


def test_a_buying_bot_is_throttled_after_the_write_limit(client, alice, make, no_pending_cap):
    book = make.book(stock=10_000)
    statuses = [_order(client, alice, book.id, 100).status_code for _ in range(WRITE_LIMIT + 5)]
    assert statuses == [201] * WRITE_LIMIT + [429] * 5
    assert scalar("SELECT count(*) FROM orders") == WRITE_LIMIT
    assert stock_of(book.id) == 10_000 - 100 * WRITE_LIMIT
    refused = _order(client, alice, book.id)
    assert_error(refused, 429, "RATE_LIMIT_EXCEEDED")
    assert int(refused.headers["Retry-After"]) >= 1


def test_other_customers_can_still_buy_while_a_bot_is_throttled(
    client, alice, bob, make, no_pending_cap
):
    book = make.book(stock=10_000)
    for _ in range(WRITE_LIMIT + 1):
        _order(client, alice, book.id)
    mine = _order(client, bob, book.id)
    assert mine.status_code == 201, mine.get_data(as_text=True)


def test_mass_sign_up_from_one_address_is_throttled(client, app_ctx):
    statuses = [
        client.post(
            "/v1/auth/register", json={"email": f"bot{n}@example.com", "password": PASSWORD}
        ).status_code
        for n in range(WRITE_LIMIT + 3)
    ]
    assert statuses == [201] * WRITE_LIMIT + [429] * 3
    assert scalar("SELECT count(*) FROM users") == WRITE_LIMIT
