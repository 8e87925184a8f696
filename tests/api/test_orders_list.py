"""GET /v1/orders: visibility, filters, sort, both pagination modes, no N+1."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.ordering import assert_error, caller, execute, place_ok


@pytest.fixture
def shop(client, make):
    """Two customers with orders, and an admin."""
    alice, bob, admin = caller(make), caller(make), caller(make, "admin")
    book = make.book(stock=100, price=Decimal("5.00"))
    orders = {
        "alice": [place_ok(client, alice, (book.id, n)) for n in (1, 2, 3)],
        "bob": [place_ok(client, bob, (book.id, 4))],
    }
    return alice, bob, admin, orders


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [order["id"] for order in response.get_json()["data"]]


def test_customers_see_their_own_orders_newest_first(client, shop):
    alice, bob, _, orders = shop
    response = client.get("/v1/orders", headers=alice.headers)
    assert _ids(response) == [o["id"] for o in reversed(orders["alice"])]
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.get_json()["pagination"]["total"] == 3
    assert response.get_json()["data"][0] == orders["alice"][-1]
    assert _ids(client.get("/v1/orders", headers=bob.headers)) == [orders["bob"][0]["id"]]


def test_admins_see_every_order_and_can_filter_by_user(client, shop):
    alice, bob, admin, orders = shop
    assert len(_ids(client.get("/v1/orders", headers=admin.headers))) == 4
    response = client.get(f"/v1/orders?user_id={bob.id}", headers=admin.headers)
    assert _ids(response) == [orders["bob"][0]["id"]]


def test_customers_may_not_filter_by_user(client, shop):
    alice, bob, _, _ = shop
    for user_id in (bob.id, alice.id):
        response = client.get(f"/v1/orders?user_id={user_id}", headers=alice.headers)
        error = assert_error(response, 403, "INSUFFICIENT_PERMISSIONS")
        assert error["details"][0]["field"] == "user_id"


def test_filter_by_status(client, shop):
    alice, _, _, orders = shop
    paid = orders["alice"][0]["id"]
    assert client.post(f"/v1/orders/{paid}/pay", headers=alice.headers).status_code == 200
    assert _ids(client.get("/v1/orders?status=paid", headers=alice.headers)) == [paid]
    assert len(_ids(client.get("/v1/orders?status=pending", headers=alice.headers))) == 2
    assert _ids(client.get("/v1/orders?status=shipped", headers=alice.headers)) == []


def test_filter_by_creation_date(client, shop):
    alice, _, _, orders = shop
    first, second, third = (o["id"] for o in orders["alice"])
    for order_id, moment in (
        (first, "2026-01-14 23:59:59+00"),
        (second, "2026-01-15 12:00:00+00"),
        (third, "2026-01-16 00:00:00+00"),
    ):
        execute("UPDATE orders SET created_at = :at WHERE id = :id", at=moment, id=order_id)

    def ids(query: str) -> set[int]:
        return set(_ids(client.get(f"/v1/orders?{query}", headers=alice.headers)))

    assert ids("created_from=2026-01-15&created_to=2026-01-15") == {second}
    assert ids("created_from=2026-01-15") == {second, third}
    assert ids("created_to=2026-01-15") == {first, second}
    assert ids("created_from=2026-01-15T12:00:00Z&created_to=2026-01-16T00:00:00Z") == {
        second,
        third,
    }
    assert ids("created_to=2026-01-15T13:00:00%2B02:00") == {first}
    assert ids("created_to=2026-01-15T14:00:00%2B02:00") == {first, second}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=lost", "status"),
        ("user_id=0", "user_id"),
        ("created_from=yesterday", "created_from"),
        ("created_from=2026-02-30", "created_from"),
        ("created_from=2026-02-02&created_to=2026-02-01", "created_to"),
        ("sort=title", "sort"),
        ("per_page=101", "per_page"),
        ("cursor=bogus", "cursor"),
        ("fields=secret", "fields"),
        ("colour=red", "colour"),
    ],
)
def test_bad_query_is_400(client, shop, query, field):
    alice = shop[0]
    response = client.get(f"/v1/orders?{query}", headers=alice.headers)
    error = assert_error(response, 400, "INVALID_QUERY_PARAMETER")
    assert field in {detail["field"] for detail in error["details"]}


def test_sort_by_total(client, shop):
    alice, _, _, orders = shop
    expected = [o["id"] for o in orders["alice"]]
    assert _ids(client.get("/v1/orders?sort=total", headers=alice.headers)) == expected
    assert _ids(client.get("/v1/orders?sort=-total", headers=alice.headers)) == expected[::-1]


def test_offset_and_cursor_pagination(client, shop):
    _, _, admin, _ = shop
    first = client.get("/v1/orders?per_page=3", headers=admin.headers).get_json()
    assert first["pagination"]["total"] == 4
    assert first["pagination"]["total_pages"] == 2
    page2 = client.get("/v1/orders?per_page=3&page=2", headers=admin.headers).get_json()
    cursor = first["pagination"]["next_cursor"]
    by_cursor = client.get(f"/v1/orders?per_page=3&cursor={cursor}", headers=admin.headers)
    assert by_cursor.get_json()["data"] == page2["data"]
    assert by_cursor.get_json()["pagination"]["next_cursor"] is None
    assert (
        'rel="next"' in client.get("/v1/orders?per_page=3", headers=admin.headers).headers["Link"]
    )


def test_sparse_fields_and_conditional_get(client, shop):
    alice = shop[0]
    response = client.get("/v1/orders?fields=status,total", headers=alice.headers)
    assert set(response.get_json()["data"][0]) == {"id", "status", "total", "_links"}
    again = client.get(
        "/v1/orders?fields=status,total",
        headers={**alice.headers, "If-None-Match": response.headers["ETag"]},
    )
    assert again.status_code == 304


def test_list_needs_a_token(client):
    assert_error(client.get("/v1/orders"), 401, "AUTHENTICATION_REQUIRED")


def test_list_costs_the_same_queries_for_one_or_many_orders(
    app, client, make, count_queries, monkeypatch
):
    monkeypatch.setitem(app.config, "ORDER_MAX_PENDING", 10)
    alice = caller(make)
    book = make.book(stock=100)
    place_ok(client, alice, (book.id, 1))
    count_queries.statements.clear()
    client.get("/v1/orders", headers=alice.headers)
    one = count_queries.count
    for _ in range(5):
        place_ok(client, alice, (book.id, 1))
    count_queries.statements.clear()
    response = client.get("/v1/orders", headers=alice.headers)
    assert len(response.get_json()["data"]) == 6
    assert count_queries.count == one
