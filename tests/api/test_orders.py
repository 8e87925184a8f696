"""POST /v1/orders and GET /v1/orders/{id}: placing, validation, stock, visibility."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from bookstore.api.orders import ORDER_FIELDS
from bookstore.schemas.countries import COUNTRY_CODES
from bookstore.schemas.order import OrderSchema
from tests.ordering import (
    ADDRESS,
    assert_error,
    caller,
    execute,
    new_key,
    order_body,
    place,
    place_ok,
    scalar,
    stock_of,
)
from tests.webhook_support import subscribe


@pytest.fixture
def alice(make):
    return caller(make)


def test_place_order_reserves_stock_and_prices_from_the_catalog(client, make, alice):
    dune = make.book(title="Dune", price=Decimal("12.50"), stock=3)
    emma = make.book(title="Emma", price=Decimal("3.99"), stock=1)

    response = place(client, alice, (emma.id, 1), (dune.id, 2))

    assert response.status_code == 201
    data = response.get_json()["data"]
    assert response.headers["Location"] == f"/v1/orders/{data['id']}"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["ETag"]
    assert "Idempotent-Replayed" not in response.headers
    assert data["user_id"] == alice.id
    assert data["status"] == "pending"
    assert data["total"] == "28.99"
    assert [(line["book_id"], line["quantity"]) for line in data["items"]] == [
        (emma.id, 1),
        (dune.id, 2),
    ]
    assert data["items"][1] == {
        "book_id": dune.id,
        "title": "Dune",
        "isbn": dune.isbn,
        "unit_price": "12.50",
        "quantity": 2,
        "subtotal": "25.00",
        "_links": {"book": f"/v1/books/{dune.id}"},
    }
    assert data["shipping_address"] == {**ADDRESS, "line2": None}
    assert data["created_at"].endswith("Z")
    assert data["paid_at"] is data["shipped_at"] is data["cancelled_at"] is None
    assert set(data["_links"]) == {"self", "pay", "cancel"}
    assert (stock_of(dune.id), stock_of(emma.id)) == (1, 0)


def test_order_keeps_title_and_price_of_the_moment_it_was_placed(client, make, alice):
    book = make.book(title="Old title", price=Decimal("9.00"), stock=2)
    order = place_ok(client, alice, (book.id, 2))
    execute("UPDATE books SET price = 20, title = 'New title' WHERE id = :id", id=book.id)

    data = client.get(f"/v1/orders/{order['id']}", headers=alice.headers).get_json()["data"]

    assert data["items"][0]["title"] == "Old title"
    assert data["items"][0]["unit_price"] == "9.00"
    assert data["total"] == "18.00"


def test_shipping_address_is_normalised(client, make, alice):
    book = make.book()
    body = order_body((book.id, 1), country="de", line2="  Flat 3 ", city=" Berlin ")
    response = client.post("/v1/orders", json=body, headers=alice.with_key())
    address = response.get_json()["data"]["shipping_address"]
    assert (address["country"], address["line2"], address["city"]) == ("DE", "Flat 3", "Berlin")


def _lines(count: int) -> list[dict[str, int]]:
    return [{"book_id": n, "quantity": 1} for n in range(1, count + 1)]


def _address(**changes):
    address = {**ADDRESS, **changes}
    return {key: value for key, value in address.items() if value is not None}


INVALID_BODIES = [
    ({"items": []}, "items", "OUT_OF_RANGE"),
    ({"items": _lines(51)}, "items", "OUT_OF_RANGE"),
    ({"items": {"book_id": 1}}, "items", "INVALID_TYPE"),
    (
        {"items": [{"book_id": 1, "quantity": 1}, {"book_id": 1, "quantity": 2}]},
        "items.1.book_id",
        "DUPLICATE",
    ),
    ({"items": [{"book_id": 1, "quantity": 0}]}, "items.0.quantity", "INVALID_VALUE"),
    ({"items": [{"book_id": 1, "quantity": 101}]}, "items.0.quantity", "INVALID_VALUE"),
    ({"items": [{"book_id": 1, "quantity": "2"}]}, "items.0.quantity", "INVALID_TYPE"),
    ({"items": [{"book_id": 0, "quantity": 1}]}, "items.0.book_id", "INVALID_VALUE"),
    ({"items": [{"quantity": 1}]}, "items.0.book_id", "REQUIRED"),
    ({"items": [{"book_id": 1, "quantity": 1, "price": "0.01"}]}, "items.0.price", "UNKNOWN_FIELD"),
    ({"total": "0.01"}, "total", "UNKNOWN_FIELD"),
    ({"status": "paid"}, "status", "UNKNOWN_FIELD"),
    ({"user_id": 1}, "user_id", "UNKNOWN_FIELD"),
    ({"shipping_address": None}, "shipping_address", "NULL_NOT_ALLOWED"),
    ({"shipping_address": _address(country="XX")}, "shipping_address.country", "INVALID_CHOICE"),
    ({"shipping_address": _address(country="DEU")}, "shipping_address.country", "TOO_LONG"),
    ({"shipping_address": _address(name="")}, "shipping_address.name", "REQUIRED"),
    ({"shipping_address": _address(name="x" * 201)}, "shipping_address.name", "TOO_LONG"),
    ({"shipping_address": _address(line1=None)}, "shipping_address.line1", "REQUIRED"),
    ({"shipping_address": _address(line2="y" * 201)}, "shipping_address.line2", "TOO_LONG"),
    ({"shipping_address": _address(city="Ber\x00lin")}, "shipping_address.city", "INVALID_FORMAT"),
    (
        {"shipping_address": _address(postal_code="10115!")},
        "shipping_address.postal_code",
        "INVALID_FORMAT",
    ),
    (
        {"shipping_address": _address(postal_code="1" * 21)},
        "shipping_address.postal_code",
        "TOO_LONG",
    ),
    ({"shipping_address": {**ADDRESS, "phone": "1"}}, "shipping_address.phone", "UNKNOWN_FIELD"),
]


@pytest.mark.parametrize(("change", "field", "code"), INVALID_BODIES)
def test_invalid_order_is_400_and_changes_nothing(client, make, alice, change, field, code):
    book = make.book(stock=5)
    body = {**order_body((book.id, 1)), **change}

    response = client.post("/v1/orders", json=body, headers=alice.with_key())

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert {"field": field, "code": code} in [
        {"field": d["field"], "code": d["code"]} for d in error["details"]
    ]
    assert stock_of(book.id) == 5
    assert scalar("SELECT count(*) FROM orders") == 0


def test_missing_fields_are_required(client, alice):
    error = assert_error(
        client.post("/v1/orders", json={}, headers=alice.with_key()), 400, "VALIDATION_ERROR"
    )
    assert {(d["field"], d["code"]) for d in error["details"]} == {
        ("items", "REQUIRED"),
        ("shipping_address", "REQUIRED"),
    }


def test_unknown_book_is_400_naming_the_line_and_reserves_nothing(client, make, alice):
    book = make.book(stock=5)
    response = place(client, alice, (book.id, 2), (book.id + 100, 1))
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"] == [
        {
            "field": "items.1.book_id",
            "code": "NOT_FOUND",
            "message": f"Book {book.id + 100} does not exist.",
        }
    ]
    assert stock_of(book.id) == 5


def test_shortage_is_409_naming_every_short_book_and_rolls_back(client, make, alice):
    plenty = make.book(stock=10)
    few = make.book(stock=1)
    none = make.book(stock=0)

    response = place(client, alice, (none.id, 1), (plenty.id, 4), (few.id, 3))

    error = assert_error(response, 409, "OUT_OF_STOCK")
    assert error["details"] == [
        {
            "field": "items.0.quantity",
            "code": "OUT_OF_STOCK",
            "message": f"Book {none.id}: 1 requested, 0 available.",
        },
        {
            "field": "items.2.quantity",
            "code": "OUT_OF_STOCK",
            "message": f"Book {few.id}: 3 requested, 1 available.",
        },
    ]
    # The line that could be reserved was released with the rest.
    assert (stock_of(plenty.id), stock_of(few.id), stock_of(none.id)) == (10, 1, 0)
    assert scalar("SELECT count(*) FROM orders") == 0


def test_the_last_copies_can_be_ordered(client, make, alice):
    book = make.book(stock=2)
    assert place(client, alice, (book.id, 2)).status_code == 201
    assert stock_of(book.id) == 0
    assert_error(place(client, alice, (book.id, 1)), 409, "OUT_OF_STOCK")


def test_idempotency_key_is_required(client, make, alice):
    book = make.book()
    response = client.post("/v1/orders", json=order_body((book.id, 1)), headers=alice.headers)
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert [(d["field"], d["code"]) for d in error["details"]] == [("Idempotency-Key", "REQUIRED")]
    assert scalar("SELECT count(*) FROM orders") == 0


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "caf\u00e9"])
def test_malformed_idempotency_key_is_400(client, make, alice, key):
    book = make.book()
    headers = {**alice.headers, "Idempotency-Key": key}
    response = client.post("/v1/orders", json=order_body((book.id, 1)), headers=headers)
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"][0]["field"] == "Idempotency-Key"
    assert error["details"][0]["code"] == "INVALID_FORMAT"


def test_placing_needs_a_customer_token(client, make):
    book = make.book()
    body = order_body((book.id, 1))
    response = client.post("/v1/orders", json=body, headers={"Idempotency-Key": new_key()})
    assert_error(response, 401, "AUTHENTICATION_REQUIRED")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    admin = caller(make, "admin")
    assert_error(
        client.post("/v1/orders", json=body, headers=admin.with_key()),
        403,
        "INSUFFICIENT_PERMISSIONS",
    )


def test_body_must_be_json(client, alice):
    headers = {**alice.with_key(), "Content-Type": "text/plain"}
    response = client.post("/v1/orders", data="items", headers=headers)
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    headers["Content-Type"] = "application/json"
    assert_error(client.post("/v1/orders", data="{", headers=headers), 400, "INVALID_JSON")


def test_owner_and_admin_read_an_order_others_get_404(client, make, alice):
    book = make.book()
    order = place_ok(client, alice, (book.id, 1))
    url = f"/v1/orders/{order['id']}"

    mine = client.get(url, headers=alice.headers)
    assert mine.status_code == 200
    assert mine.headers["Cache-Control"] == "private, no-store"
    assert mine.get_json()["data"] == order
    again = client.get(url, headers={**alice.headers, "If-None-Match": mine.headers["ETag"]})
    assert again.status_code == 304

    admin = client.get(url, headers=caller(make, "admin").headers).get_json()["data"]
    assert set(admin["_links"]) == {"self", "cancel"}
    assert_error(client.get(url, headers=caller(make).headers), 404, "RESOURCE_NOT_FOUND")
    assert_error(client.get("/v1/orders/999", headers=alice.headers), 404, "RESOURCE_NOT_FOUND")
    assert_error(client.get(url), 401, "AUTHENTICATION_REQUIRED")


def test_order_dict_matches_the_documented_schema(client, make, alice):
    order = place_ok(client, alice, (make.book().id, 1))
    documented = {field.data_key or name for name, field in OrderSchema().fields.items()}
    assert set(order) == documented == {*ORDER_FIELDS, "_links"}


def test_country_codes_are_the_249_assigned_ones():
    assert len(COUNTRY_CODES) == 249
    assert {"DE", "GB", "US", "JP", "SS", "XK"} & COUNTRY_CODES == {"DE", "GB", "US", "JP", "SS"}


def test_openapi_documents_the_idempotency_key(client):
    spec = client.get("/openapi.json").get_json()
    create = spec["paths"]["/v1/orders"]["post"]
    header = next(p for p in create["parameters"] if p["name"] == "Idempotency-Key")
    assert header["in"] == "header" and header["required"] is True
    assert {"201", "400", "401", "403", "409", "422"} <= set(create["responses"])
    for action in ("pay", "cancel", "ship"):
        op = spec["paths"][f"/v1/orders/{{order_id}}/{action}"]["post"]
        header = next(p for p in op["parameters"] if p["name"] == "Idempotency-Key")
        assert header["required"] is False
        assert {"200", "404", "409", "422"} <= set(op["responses"])


def test_placing_reuses_the_compiled_statements_whatever_the_lines(
    client, admin_headers, make, fast_webhooks, caplog
):
    """SQLAlchemy compiles a statement once per shape, if it can key it: the key's claim is
    text, the reservation and the order's insert send their rows as array parameters, so
    none is compiled again for the next order, even one with more lines and more events."""
    subscribe(client, admin_headers, "http://127.0.0.1:9/hook", ["order.created", "book.low_stock"])
    books = [make.book(stock=6) for _ in range(3)]
    alice = caller(make)
    assert place(client, alice, (books[0].id, 1)).status_code == 201
    with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
        assert place(client, alice, *[(book.id, 2) for book in books]).status_code == 201
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("sqlalchemy.engine")]
    # The engine logs each statement, then how it was compiled ("[cached since ...]").
    compiled = {
        sql: label for sql, label in zip(messages, messages[1:], strict=False) if label[:1] == "["
    }
    claim = [label for sql, label in compiled.items() if sql.startswith("WITH key_lock")]
    reserve = [label for sql, label in compiled.items() if sql.lstrip().startswith("WITH owner")]
    insert = [label for sql, label in compiled.items() if "INSERT INTO orders" in sql]
    assert len(claim) == len(reserve) == len(insert) == 1, messages
    for label in (*claim, *reserve, *insert):
        assert label.startswith("[cached since"), messages


def test_placing_an_order_is_four_statements_on_postgresql(
    client, admin_headers, make, count_queries, fast_webhooks
):
    """The claim, the reservation, the order with lines and events, the stored response.

    With BEGIN and COMMIT that is six round trips, however many lines, events and
    subscriptions (the tokens are checked in Redis).
    """
    subscribe(client, admin_headers, "http://127.0.0.1:9/hook", ["order.created", "book.low_stock"])
    books = [make.book(stock=6) for _ in range(3)]
    alice = caller(make)
    # Every book crosses the low-stock threshold (5): three more events in the statement.
    for lines in ([(books[0].id, 1)], [(book.id, 2) for book in books]):
        count_queries.statements.clear()
        assert place(client, alice, *lines).status_code == 201
        assert count_queries.count == 4, count_queries.statements
        assert not any("SAVEPOINT" in statement for statement in count_queries.statements)
    assert scalar("SELECT count(*) FROM webhook_events") == 5  # 2 orders, 3 low stock
    assert scalar("SELECT count(*) FROM webhook_deliveries") == 5
    assert [stock_of(book.id) for book in books] == [3, 4, 4]
