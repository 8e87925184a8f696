"""Order state changes write their webhook events in the same transaction."""

from __future__ import annotations

import pytest

from tests.ordering import assert_error, caller, place, place_ok
from tests.services.test_outbox import HOOK, events
from tests.webhook_support import subscribe

pytestmark = pytest.mark.usefixtures("fast_webhooks")
ORDER_EVENTS = ["order.created", "order.paid", "order.shipped", "order.cancelled", "book.low_stock"]


def test_every_order_transition_leaves_one_event(client, admin_headers, make):
    subscribe(client, admin_headers, HOOK, ORDER_EVENTS)
    book = make.book(stock=20)
    alice = caller(make)
    order = place_ok(client, alice, (book.id, 2))
    client.post(f"/v1/orders/{order['id']}/pay", headers=alice.headers)
    client.post(f"/v1/orders/{order['id']}/ship", headers=admin_headers)
    second = place_ok(client, alice, (book.id, 1))
    client.post(f"/v1/orders/{second['id']}/cancel", headers=alice.headers)

    got = [(e["type"], e["data"]["id"], e["data"]["status"]) for e in events()]
    assert got == [
        ("order.created", order["id"], "pending"),
        ("order.paid", order["id"], "paid"),
        ("order.shipped", order["id"], "shipped"),
        ("order.created", second["id"], "pending"),
        ("order.cancelled", second["id"], "cancelled"),
    ]
    created = events("order.created")[0]["data"]
    assert created["items"][0]["book_id"] == book.id and created["total"] == order["total"]
    assert created["_links"] == {"self": f"/v1/orders/{order['id']}"}


def test_failed_order_leaves_no_event_and_low_stock_fires_once(client, admin_headers, make):
    subscribe(client, admin_headers, HOOK, ORDER_EVENTS)
    book = make.book(stock=7)
    alice = caller(make)
    assert_error(place(client, alice, (book.id, 8)), 409, "OUT_OF_STOCK")
    assert events() == []
    place_ok(client, alice, (book.id, 3))  # 7 -> 4 crosses the threshold of 5
    place_ok(client, alice, (book.id, 1))  # 4 -> 3 is already below it
    assert [e["data"]["stock"] for e in events("book.low_stock")] == [4]
