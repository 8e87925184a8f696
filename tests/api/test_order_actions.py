"""POST /v1/orders/{id}/pay|cancel|ship: the state machine, roles, stock, hypermedia."""

from __future__ import annotations

import pytest

from tests.ordering import assert_error, caller, execute, place_ok, scalar, stock_of


@pytest.fixture
def alice(make):
    return caller(make)


@pytest.fixture
def admin(make):
    return caller(make, "admin")


@pytest.fixture
def book(make):
    return make.book(stock=10)


@pytest.fixture
def order(client, alice, book):
    return place_ok(client, alice, (book.id, 3))


def act(client, who, order_id: int, action: str):
    return client.post(f"/v1/orders/{order_id}/{action}", headers=who.headers)


def ok(client, who, order_id: int, action: str) -> dict:
    response = act(client, who, order_id, action)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "private, no-store"
    return response.get_json()["data"]


def test_pay_then_ship(client, alice, admin, order):
    paid = ok(client, alice, order["id"], "pay")
    assert paid["status"] == "paid"
    assert paid["paid_at"].endswith("Z")
    assert paid["_links"] == {
        "self": f"/v1/orders/{order['id']}",
        "cancel": f"/v1/orders/{order['id']}/cancel",
    }
    shipped = ok(client, admin, order["id"], "ship")
    assert shipped["status"] == "shipped"
    assert shipped["shipped_at"].endswith("Z")
    assert shipped["paid_at"] == paid["paid_at"]
    assert shipped["_links"] == {"self": f"/v1/orders/{order['id']}"}
    stored = client.get(f"/v1/orders/{order['id']}", headers=alice.headers).get_json()["data"]
    assert stored["status"] == "shipped"


def test_owner_cancels_a_pending_order_and_stock_returns(client, alice, book, order):
    assert stock_of(book.id) == 7
    cancelled = ok(client, alice, order["id"], "cancel")
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_at"].endswith("Z")
    assert cancelled["_links"] == {"self": f"/v1/orders/{order['id']}"}
    assert stock_of(book.id) == 10


def test_cancelling_a_paid_order_returns_stock_of_every_line(client, make, alice, admin):
    first, second = make.book(stock=5), make.book(stock=5)
    order = place_ok(client, alice, (second.id, 2), (first.id, 5))
    ok(client, alice, order["id"], "pay")
    assert ok(client, admin, order["id"], "cancel")["status"] == "cancelled"
    assert (stock_of(first.id), stock_of(second.id)) == (5, 5)


def test_cancel_survives_a_deleted_book(client, make, alice):
    kept, gone = make.book(stock=5), make.book(stock=5)
    order = place_ok(client, alice, (kept.id, 1), (gone.id, 1))
    execute("DELETE FROM books WHERE id = :id", id=gone.id)
    cancelled = ok(client, alice, order["id"], "cancel")
    assert cancelled["items"][1]["book_id"] is None
    assert cancelled["items"][1]["_links"] == {}
    assert cancelled["items"][1]["title"] == gone.title
    assert stock_of(kept.id) == 5


@pytest.mark.parametrize(
    ("path", "action", "who"),
    [
        (["pay"], "pay", "alice"),
        (["cancel"], "pay", "alice"),
        (["pay", "ship"], "pay", "alice"),
        (["cancel"], "cancel", "alice"),
        (["cancel"], "cancel", "admin"),
        (["pay", "ship"], "cancel", "alice"),
        (["pay", "ship"], "cancel", "admin"),
        ([], "ship", "admin"),
        (["cancel"], "ship", "admin"),
        (["pay", "ship"], "ship", "admin"),
    ],
)
def test_invalid_transitions_are_409(client, alice, admin, book, order, path, action, who):
    actors = {"alice": alice, "admin": admin}
    for step in path:
        ok(client, admin if step == "ship" else alice, order["id"], step)
    before = client.get(f"/v1/orders/{order['id']}", headers=alice.headers).get_json()["data"]
    stock = stock_of(book.id)

    error = assert_error(
        act(client, actors[who], order["id"], action), 409, "INVALID_STATE_TRANSITION"
    )

    assert error["details"][0]["field"] == "status"
    after = client.get(f"/v1/orders/{order['id']}", headers=alice.headers).get_json()["data"]
    assert after == before
    assert stock_of(book.id) == stock


def test_roles(client, alice, admin, order):
    # Only the customer who placed it pays; only admins ship.
    assert_error(act(client, admin, order["id"], "pay"), 403, "INSUFFICIENT_PERMISSIONS")
    ok(client, alice, order["id"], "pay")
    assert_error(act(client, alice, order["id"], "ship"), 403, "INSUFFICIENT_PERMISSIONS")
    assert scalar("SELECT status FROM orders WHERE id = :id", id=order["id"]) == "paid"


@pytest.mark.parametrize("action", ["pay", "cancel", "ship"])
def test_another_customers_order_is_404_everywhere(client, make, alice, book, order, action):
    mallory = caller(make)
    assert_error(act(client, mallory, order["id"], action), 404, "RESOURCE_NOT_FOUND")
    url = f"/v1/orders/{order['id']}"
    assert_error(client.get(url, headers=mallory.headers), 404, "RESOURCE_NOT_FOUND")
    assert order["id"] not in [
        o["id"] for o in client.get("/v1/orders", headers=mallory.headers).get_json()["data"]
    ]
    assert scalar("SELECT status FROM orders WHERE id = :id", id=order["id"]) == "pending"
    assert stock_of(book.id) == 7


@pytest.mark.parametrize("action", ["pay", "cancel", "ship"])
def test_missing_order_is_404(client, admin, alice, action):
    assert_error(act(client, alice, 999, action), 404, "RESOURCE_NOT_FOUND")
    assert_error(act(client, admin, 999, action), 404, "RESOURCE_NOT_FOUND")


@pytest.mark.parametrize("action", ["pay", "cancel", "ship"])
def test_actions_need_a_token(client, order, action):
    response = client.post(f"/v1/orders/{order['id']}/{action}")
    assert_error(response, 401, "AUTHENTICATION_REQUIRED")


@pytest.mark.parametrize(
    ("path", "owner_links", "admin_links"),
    [
        ([], {"pay", "cancel"}, {"cancel"}),
        (["pay"], {"cancel"}, {"cancel", "ship"}),
        (["pay", "ship"], set(), set()),
        (["cancel"], set(), set()),
    ],
)
def test_links_list_only_the_actions_valid_now_for_the_caller(
    client, alice, admin, order, path, owner_links, admin_links
):
    for step in path:
        ok(client, admin if step == "ship" else alice, order["id"], step)
    url = f"/v1/orders/{order['id']}"
    for who, expected in ((alice, owner_links), (admin, admin_links)):
        links = client.get(url, headers=who.headers).get_json()["data"]["_links"]
        assert links == {"self": url, **{action: f"{url}/{action}" for action in expected}}
        listed = client.get("/v1/orders", headers=who.headers).get_json()["data"][0]
        assert listed["_links"] == links
