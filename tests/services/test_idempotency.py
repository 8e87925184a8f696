"""Idempotency-Key semantics (bookstore.services.idempotency), on the real PostgreSQL."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from bookstore.services.idempotency import advisory_lock_id, purge_expired
from tests.conftest import DATABASE_URL
from tests.ordering import (
    assert_error,
    caller,
    execute,
    new_key,
    order_body,
    place,
    scalar,
    stock_of,
)


@pytest.fixture
def alice(make):
    return caller(make)


def _orders() -> int:
    return scalar("SELECT count(*) FROM orders")


def _keys() -> int:
    return scalar("SELECT count(*) FROM idempotency_keys")


def test_same_key_same_request_replays_without_a_second_order(client, make, alice):
    book = make.book(stock=5)
    key = new_key()
    first = place(client, alice, (book.id, 2), key=key)
    assert first.status_code == 201

    again = place(client, alice, (book.id, 2), key=key)

    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    for header in ("Location", "ETag", "Cache-Control", "Content-Type"):
        assert again.headers[header] == first.headers[header]
    assert again.headers["X-Request-ID"] != first.headers["X-Request-ID"]
    assert (_orders(), stock_of(book.id), _keys()) == (1, 3, 1)


def test_fingerprint_ignores_json_key_order_and_spacing(client, make, alice):
    book = make.book()
    key = new_key()
    headers = {**alice.with_key(key), "Content-Type": "application/json"}
    body = order_body((book.id, 1))
    assert client.post("/v1/orders", json=body, headers=headers).status_code == 201
    address = client.application.json.dumps(body["shipping_address"])
    reordered = (
        f'{{ "shipping_address": {address},\n "items": [{{"quantity": 1, "book_id": {book.id}}}] }}'
    )
    again = client.post("/v1/orders", data=reordered, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _orders() == 1


def test_same_key_different_request_is_422(client, make, alice):
    book = make.book(stock=5)
    key = new_key()
    assert place(client, alice, (book.id, 1), key=key).status_code == 201

    error = assert_error(place(client, alice, (book.id, 2), key=key), 422, "IDEMPOTENCY_KEY_REUSED")

    assert error["details"][0]["field"] == "Idempotency-Key"
    assert (_orders(), stock_of(book.id)) == (1, 4)


def test_same_key_on_another_path_is_422(client, make, alice):
    book = make.book(stock=5)
    one = place(client, alice, (book.id, 1)).get_json()["data"]["id"]
    two = place(client, alice, (book.id, 1)).get_json()["data"]["id"]
    key = new_key()
    assert client.post(f"/v1/orders/{one}/pay", headers=alice.with_key(key)).status_code == 200
    response = client.post(f"/v1/orders/{two}/pay", headers=alice.with_key(key))
    assert_error(response, 422, "IDEMPOTENCY_KEY_REUSED")
    assert scalar("SELECT status FROM orders WHERE id = :id", id=two) == "pending"


def test_keys_are_scoped_to_the_caller(client, make, alice):
    book = make.book(stock=5)
    bob = caller(make)
    key = new_key()
    assert place(client, alice, (book.id, 1), key=key).status_code == 201
    theirs = place(client, bob, (book.id, 1), key=key)
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.get_json()["data"]["user_id"] == bob.id
    assert _orders() == 2


def test_a_request_that_failed_validation_stores_nothing(client, make, alice):
    book = make.book(stock=5)
    key = new_key()
    invalid = {**order_body((book.id, 1)), "total": "1.00"}
    bad = client.post("/v1/orders", json=invalid, headers=alice.with_key(key))
    assert_error(bad, 400, "VALIDATION_ERROR")
    unknown = place(client, alice, (book.id + 50, 1), key=key)  # fails inside the service
    assert_error(unknown, 400, "VALIDATION_ERROR")
    assert _keys() == 0

    fixed = place(client, alice, (book.id, 1), key=key)

    assert fixed.status_code == 201
    assert "Idempotent-Replayed" not in fixed.headers


def test_a_business_error_is_stored_and_replayed(client, make, alice):
    book = make.book(stock=1)
    key = new_key()
    first = place(client, alice, (book.id, 2), key=key)
    assert_error(first, 409, "OUT_OF_STOCK")
    execute("UPDATE books SET stock = 10 WHERE id = :id", id=book.id)

    again = place(client, alice, (book.id, 2), key=key)

    assert again.status_code == 409
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert (_orders(), stock_of(book.id)) == (0, 10)
    assert place(client, alice, (book.id, 2)).status_code == 201  # a new key is a new attempt


def test_a_key_still_running_is_409_with_retry_after(app, client, make, alice):
    book = make.book(stock=5)
    key = new_key()
    # Another transaction holds the key's lock, as a first request still running would.
    holder = psycopg2.connect(DATABASE_URL)
    try:
        with holder.cursor() as cursor:
            lock_id = advisory_lock_id(f"user:{alice.id}", key)
            cursor.execute("SELECT pg_advisory_lock(%s)", (lock_id,))
        response = place(client, alice, (book.id, 1), key=key)
        error = assert_error(response, 409, "IDEMPOTENCY_KEY_IN_USE")
        assert response.headers["Retry-After"] == "1"
        assert error["details"][0]["field"] == "Idempotency-Key"
        assert (_orders(), _keys(), stock_of(book.id)) == (0, 0, 5)
    finally:
        holder.close()
    assert place(client, alice, (book.id, 1), key=key).status_code == 201


def test_expired_keys_are_forgotten(client, make, alice):
    book = make.book(stock=5)
    key = new_key()
    assert place(client, alice, (book.id, 1), key=key).status_code == 201
    execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'")

    response = place(client, alice, (book.id, 2), key=key)

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    assert (_orders(), _keys()) == (2, 1)


def test_keys_expire_after_the_configured_ttl(client, make, alice):
    book = make.book()
    place(client, alice, (book.id, 1))
    lifetime = scalar("SELECT extract(epoch FROM expires_at - created_at) FROM idempotency_keys")
    assert lifetime == client.application.config["IDEMPOTENCY_TTL_SECONDS"] == 86400


def test_purge_deletes_only_expired_keys(app, client, make, alice):
    book = make.book(stock=5)
    for _ in range(3):
        place(client, alice, (book.id, 1))
    execute(
        "UPDATE idempotency_keys SET expires_at = now() - interval '1 hour' WHERE id IN "
        "(SELECT id FROM idempotency_keys ORDER BY id LIMIT 2)"
    )
    result = app.test_cli_runner().invoke(args=["idempotency", "purge"])
    assert result.exit_code == 0, result.output
    assert "Deleted 2 expired idempotency keys." in result.output
    assert _keys() == 1
    with app.app_context():
        assert purge_expired(dt.datetime.now(dt.UTC) + dt.timedelta(days=2)) == 1
    assert _keys() == 0


def test_a_replayed_action_returns_the_original_outcome(client, make, alice):
    book = make.book(stock=5)
    order_id = place(client, alice, (book.id, 1)).get_json()["data"]["id"]
    key = new_key()
    paid = client.post(f"/v1/orders/{order_id}/pay", headers=alice.with_key(key))
    assert paid.status_code == 200
    cancel_key = new_key()
    cancelled = client.post(f"/v1/orders/{order_id}/cancel", headers=alice.with_key(cancel_key))
    assert cancelled.get_json()["data"]["status"] == "cancelled"

    again = client.post(f"/v1/orders/{order_id}/pay", headers=alice.with_key(key))
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (200, "true")
    assert again.get_data() == paid.get_data()
    retry = client.post(f"/v1/orders/{order_id}/cancel", headers=alice.with_key(cancel_key))
    assert retry.get_data() == cancelled.get_data()
    assert stock_of(book.id) == 5  # returned once, not twice
    # Without a key each call is a new attempt.
    assert_error(
        client.post(f"/v1/orders/{order_id}/pay", headers=alice.headers),
        409,
        "INVALID_STATE_TRANSITION",
    )


def test_actions_without_a_key_store_nothing(client, make, alice):
    book = make.book()
    order_id = place(client, alice, (book.id, 1)).get_json()["data"]["id"]
    assert client.post(f"/v1/orders/{order_id}/pay", headers=alice.headers).status_code == 200
    assert _keys() == 1  # only the order's own key
