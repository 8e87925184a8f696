"""API6:2023 Unrestricted Access to Sensitive Business Flows: buying and signing up.

A bot that buys up the stock or mass-creates accounts is slowed by the write limit (60
per minute per customer, per client IP when anonymous, by default) on top of the
per-order bounds (50 lines of at most 100 copies, tests/security/test_api4_*). What is
refused is refused whole: no order and no account beyond the limit. Also proven
elsewhere: a retried order or payment never takes effect twice
(tests/services/test_idempotency.py), stock is never oversold under concurrency
(tests/services/test_orders_live.py). Not covered: unpaid orders keep their stock until
cancelled; with a real payment provider they would expire (see the README).
"""

from __future__ import annotations

from tests.ordering import order_body, scalar, stock_of
from tests.sessions import PASSWORD, assert_error

WRITE_LIMIT = 60  # RATELIMIT_WRITE's default


def test_a_buying_bot_is_throttled_after_the_write_limit(client, alice, make):
    book = make.book(stock=10_000)
    statuses = [
        client.post(
            "/v1/orders", json=order_body((book.id, 100)), headers=alice.with_key()
        ).status_code
        for _ in range(WRITE_LIMIT + 5)
    ]
    assert statuses == [201] * WRITE_LIMIT + [429] * 5
    assert scalar("SELECT count(*) FROM orders") == WRITE_LIMIT
    assert stock_of(book.id) == 10_000 - 100 * WRITE_LIMIT
    refused = client.post("/v1/orders", json=order_body((book.id, 1)), headers=alice.with_key())
    assert_error(refused, 429, "RATE_LIMIT_EXCEEDED")
    assert int(refused.headers["Retry-After"]) >= 1


def test_other_customers_can_still_buy_while_a_bot_is_throttled(client, alice, bob, make):
    book = make.book(stock=10_000)
    for _ in range(WRITE_LIMIT + 1):
        client.post("/v1/orders", json=order_body((book.id, 1)), headers=alice.with_key())
    mine = client.post("/v1/orders", json=order_body((book.id, 1)), headers=bob.with_key())
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
