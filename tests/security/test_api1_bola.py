"""API1:2023 Broken Object Level Authorization: another customer's orders and profile.

Bob holds a valid customer token and guesses Alice's ids. The contract answers 404 for
another customer's order, so Bob cannot even learn that it exists: every answer must be
byte-for-byte the answer for an id that does not exist (request id aside), and nothing
of Alice's may change. Also proven elsewhere: idempotency keys are scoped to the caller
(tests/services/test_idempotency.py::test_keys_are_scoped_to_the_caller), a delivery of
another webhook is 404 (tests/api/test_webhook_deliveries.py).
"""

from __future__ import annotations

import pytest

from tests.ordering import place_ok, stock_of
from tests.security.conftest import fill, operations
from tests.sessions import assert_error

MISSING = 987_654


def order_operations(app) -> list[tuple[str, str]]:
    return [(m, r) for m, r in operations(app) if "<int:order_id>" in r]


def comparable(response) -> tuple[int, dict]:
    body = response.get_json()
    body["error"].pop("request_id")
    return response.status_code, body


def test_every_order_route_is_covered(app):
    # The attack below runs on every route taking an order id; a new one joins it.
    assert {r for _, r in order_operations(app)} == {
        "/v1/orders/<int:order_id>",
        "/v1/orders/<int:order_id>/pay",
        "/v1/orders/<int:order_id>/cancel",
        "/v1/orders/<int:order_id>/ship",
    }


@pytest.mark.parametrize("with_key", [False, True])
def test_another_customers_order_looks_missing_on_every_route(
    app, client, alice, bob, book, with_key
):
    order = place_ok(client, alice, (book.id, 2))
    for method, rule in order_operations(app):
        headers = bob.with_key() if with_key else bob.headers
        theirs = client.open(fill(rule, order["id"]), method=method, headers=headers)
        assert_error(theirs, 404, "RESOURCE_NOT_FOUND")
        headers = bob.with_key() if with_key else bob.headers
        missing = client.open(fill(rule, MISSING), method=method, headers=headers)
        assert comparable(theirs) == comparable(missing), (method, rule)
    mine = client.get(f"/v1/orders/{order['id']}", headers=alice.headers).get_json()["data"]
    assert mine["status"] == "pending" and mine["updated_at"] == order["updated_at"]
    assert stock_of(book.id) == 48


def test_lists_never_show_another_customers_orders(client, alice, bob, book):
    alices = {place_ok(client, alice, (book.id, 1))["id"] for _ in range(3)}
    bobs = {place_ok(client, bob, (book.id, 1))["id"]}
    seen: set[int] = set()
    for query in ("", "?status=pending", "?sort=-total", "?per_page=1", "?fields=id,user_id"):
        body = client.get(f"/v1/orders{query}", headers=bob.headers).get_json()
        seen |= {item["id"] for item in body["data"]}
        cursor = body["pagination"]["next_cursor"]
        while cursor:  # walk every page the cursor offers
            body = client.get(f"/v1/orders?cursor={cursor}", headers=bob.headers).get_json()
            seen |= {item["id"] for item in body["data"]}
            cursor = body["pagination"]["next_cursor"]
    assert seen == bobs and not seen & alices
    spying = client.get(f"/v1/orders?user_id={alice.id}", headers=bob.headers)
    assert_error(spying, 403, "INSUFFICIENT_PERMISSIONS")


@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_profiles_by_id_are_closed_to_customers_whether_or_not_they_exist(
    client, alice, bob, method
):
    body = {"role": "admin", "active": False} if method == "PATCH" else None
    answers = []
    for user_id in (alice.id, bob.id, MISSING):
        response = client.open(
            f"/v1/users/{user_id}", method=method, json=body, headers=bob.headers
        )
        assert_error(response, 403, "INSUFFICIENT_PERMISSIONS")
        answers.append(comparable(response))
    assert answers[0] == answers[1] == answers[2]  # no way to tell which ids exist
    profile = client.get("/v1/users/me", headers=alice.headers).get_json()["data"]
    assert profile["role"] == "customer" and profile["active"] is True


def test_me_is_always_the_token_holder(client, alice, bob):
    # Naming another account in the body or the query does not redirect /users/me.
    changed = client.patch("/v1/users/me", json={"id": alice.id, "name": "x"}, headers=bob.headers)
    assert_error(changed, 400, "VALIDATION_ERROR")
    assert (
        client.get(f"/v1/users/me?id={alice.id}", headers=bob.headers).get_json()["data"]["id"]
        == bob.id
    )
    assert client.get("/v1/users/me", headers=alice.headers).get_json()["data"]["name"] is None
