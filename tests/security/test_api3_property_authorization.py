"""API3:2023 Broken Object Property Level Authorization: mass assignment, data exposure.

Writes: a field the caller does not own (an order's total or status, a line's price, a
user's role, a book's id, a webhook's secret) is a 400 naming it, and nothing is written.
Reads: no response, to anyone, carries a password hash, a token version, a stored secret
or a refresh-token hash; a webhook's secret appears only in the reply that creates or
rotates it. Also proven elsewhere: register refuses ``role``
(tests/api/test_auth.py), ``PATCH /v1/users/me`` refuses role, active and password_hash,
and the admin's user patch takes only role and active (tests/api/test_users.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.ordering import order_body, scalar, stock_of
from tests.security.conftest import fill, operations
from tests.sessions import PASSWORD, assert_error, login
from tests.webhook_support import subscribe

SECRET_KEYS = re.compile(r"password|_hash|token_version|secret_encrypted|^secret$", re.I)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"total": "0.01"}, "total"),
        ({"status": "paid"}, "status"),
        ({"user_id": 1}, "user_id"),
        ({"paid_at": "2026-01-01T00:00:00Z"}, "paid_at"),
        ({"id": 1}, "id"),
    ],
)
def test_an_order_cannot_set_what_the_server_decides(client, alice, book, extra, field):
    response = client.post(
        "/v1/orders", json={**order_body((book.id, 2)), **extra}, headers=alice.with_key()
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert {"field": field, "code": "UNKNOWN_FIELD", "message": "Unknown field."} in error[
        "details"
    ]
    assert scalar("SELECT count(*) FROM orders") == 0 and stock_of(book.id) == 50


@pytest.mark.parametrize("extra", [{"price": "0.01"}, {"unit_price": "0.01"}, {"title": "Free"}])
def test_an_order_line_cannot_name_its_price(client, alice, book, extra):
    body = order_body((book.id, 2))
    body["items"][0].update(extra)
    error = assert_error(
        client.post("/v1/orders", json=body, headers=alice.with_key()), 400, "VALIDATION_ERROR"
    )
    assert error["details"][0]["field"].startswith("items.0.")
    assert scalar("SELECT count(*) FROM orders") == 0


def test_an_action_body_changes_nothing_but_the_state(client, alice, book):
    placed = client.post("/v1/orders", json=order_body((book.id, 2)), headers=alice.with_key())
    order = placed.get_json()["data"]
    paid = client.post(
        f"/v1/orders/{order['id']}/pay",
        json={"total": "0.01", "status": "shipped", "amount": "0.01"},
        headers=alice.headers,
    )
    assert paid.status_code == 200, paid.get_data(as_text=True)
    assert paid.get_json()["data"]["status"] == "paid"
    assert paid.get_json()["data"]["total"] == order["total"] == "20.00"


@pytest.mark.parametrize(
    "extra",
    [{"active": False}, {"token_version": 7}, {"password_hash": "$2b$04$x"}, {"id": 1}],
)
def test_register_takes_only_email_password_and_name(client, app_ctx, extra):
    body = {"email": "eve@example.com", "password": PASSWORD, **extra}
    error = assert_error(client.post("/v1/auth/register", json=body), 400, "VALIDATION_ERROR")
    assert error["details"][0]["field"] == next(iter(extra))
    assert scalar("SELECT count(*) FROM users") == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"stock": -5}, "stock"),
        ({"id": 99}, "id"),
        ({"created_at": "2000-01-01T00:00:00Z"}, "created_at"),
    ],
)
def test_even_an_admin_cannot_set_read_only_or_impossible_book_values(
    client, admin, book, change, field
):
    response = client.patch(f"/v1/books/{book.id}", json=change, headers=admin.headers)
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"][0]["field"] == field
    assert stock_of(book.id) == 50


@pytest.mark.parametrize("extra", [{"secret": "chosen-by-the-caller"}, {"disabled_reason": "x"}])
def test_a_webhook_secret_is_never_chosen_by_the_caller(client, admin, extra):
    body = {"url": "https://example.com/hook", "event_types": ["book.created"], **extra}
    error = assert_error(
        client.post("/v1/webhooks", json=body, headers=admin.headers), 400, "VALIDATION_ERROR"
    )
    assert error["details"][0]["field"] == next(iter(extra))


# -- what responses expose -------------------------------------------------------------


def leaks(value: Any, path: str = "") -> list[str]:
    """Keys that name a secret, and values that look like a bcrypt hash, anywhere."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if SECRET_KEYS.search(key):
                found.append(f"{path}.{key}")
            found += leaks(item, f"{path}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            found += leaks(item, f"{path}[{n}]")
    elif isinstance(value, str) and re.match(r"\$2[aby]\$\d\d\$", value):
        found.append(path)
    return found


@pytest.fixture
def everything(app, client, make, alice, admin, book, monkeypatch) -> dict[str, int]:
    """One of each resource, so every GET below has something to show."""
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)
    webhook_id, secret = subscribe(client, admin.headers, "http://127.0.0.1:9/hook")
    client.post(f"/v1/webhooks/{webhook_id}/ping", headers=admin.headers)
    order = client.post("/v1/orders", json=order_body((book.id, 1)), headers=alice.with_key())
    make.magazine()
    return {"order": order.get_json()["data"]["id"], "webhook": webhook_id, "book": book.id}


def test_no_read_exposes_a_secret_to_anyone(app, client, everything, alice, admin):
    ids = {"order_id": everything["order"], "webhook_id": everything["webhook"]}
    reads = [rule for method, rule in operations(app) if method == "GET" and "docs" not in rule]
    checked = 0
    for rule in reads:
        url = rule
        for name, value in ids.items():
            url = url.replace(f"<int:{name}>", str(value))
        url = fill(url)  # every other id is 1, which exists
        for headers in (admin.headers, alice.headers, {}):
            response = client.get(url, headers=headers)
            if response.status_code != 200 or rule == "/openapi.json":
                continue
            checked += 1
            assert leaks(response.get_json()) == [], (url, headers)
    assert checked > 30


def test_a_webhook_secret_shows_once_and_tokens_only_in_their_own_replies(client, admin, make):
    created = client.post(
        "/v1/webhooks",
        json={"url": "https://example.com/hook", "event_types": ["book.created"]},
        headers=admin.headers,
    )
    if created.status_code == 400:  # no DNS here: a public address by number instead
        created = client.post(
            "/v1/webhooks",
            json={"url": "https://93.184.216.34/hook", "event_types": ["book.created"]},
            headers=admin.headers,
        )
    secret = created.get_json()["data"]["secret"]
    assert len(secret) >= 32
    listing = client.get("/v1/webhooks", headers=admin.headers).get_data(as_text=True)
    assert secret not in listing and "secret" not in json.loads(listing)["data"][0]
    stored = scalar("SELECT secret_encrypted FROM webhook_subscriptions")
    assert secret not in stored  # encrypted at rest
    make.user(email="reader@example.com", password=PASSWORD)
    tokens = login(client, "reader@example.com")
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    # The refresh token is kept as a hash, never as itself.
    assert scalar("SELECT count(*) FROM refresh_tokens") == 1
    stored = scalar("SELECT token_hash FROM refresh_tokens")
    assert stored != tokens["refresh_token"] and stored not in tokens["refresh_token"]
