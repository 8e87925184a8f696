"""API5:2023 Broken Function Level Authorization: every admin function, enumerated.

The operations come from the URL map, so a route added without a decision here fails
the first test. Every admin-only operation is then called by a customer (403) and
anonymously (401 with ``WWW-Authenticate``), with a body an admin would send, and the
database must be unchanged afterwards. Also proven elsewhere: catalog writes per role
(tests/auth/test_decorators.py), a demoted admin loses admin rights at once
(tests/api/test_users.py), customers may not filter orders by user
(tests/api/test_orders_list.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from bookstore.extensions import db
from tests.ordering import order_body, place_ok
from tests.security.conftest import operations
from tests.sessions import assert_error
from tests.webhook_support import subscribe

PUBLIC = {
    ("GET", "/"),  # redirects to /docs
    ("GET", "/docs"),
    ("GET", "/docs/"),
    ("GET", "/docs/assets/<path:filename>"),
    ("GET", "/openapi.json"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),  # on each instance, for the scraper; nginx answers 404
    ("GET", "/v1"),
    ("POST", "/v1/auth/register"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/refresh"),
    ("GET", "/v1/authors"),
    ("GET", "/v1/authors/<int:author_id>"),
    ("GET", "/v1/authors/<int:author_id>/books"),
    ("GET", "/v1/books"),
    ("GET", "/v1/books/<int:book_id>"),
    ("GET", "/v1/magazines"),
    ("GET", "/v1/magazines/<int:magazine_id>"),
}
# Any signed-in caller; the object-level checks are API1's business.
SIGNED_IN = {
    ("POST", "/v1/auth/logout"),  # a bearer token, or the refresh token in the body
    ("GET", "/v1/orders"),
    ("GET", "/v1/orders/<int:order_id>"),
    ("POST", "/v1/orders/<int:order_id>/cancel"),
    ("GET", "/v1/users/me"),
    ("PATCH", "/v1/users/me"),
}
CUSTOMER_ONLY = {("POST", "/v1/orders"), ("POST", "/v1/orders/<int:order_id>/pay")}
ADMIN_ONLY = {
    *(
        (method, f"/v1/{name}")
        for name in ("authors", "books", "magazines", "webhooks")
        for method in ("POST",)
    ),
    *(
        (method, f"/v1/{name}/<int:{name[:-1]}_id>")
        for name in ("authors", "books", "magazines")
        for method in ("PUT", "PATCH", "DELETE")
    ),
    ("POST", "/v1/orders/<int:order_id>/ship"),
    ("GET", "/v1/users"),
    ("GET", "/v1/users/<int:user_id>"),
    ("PATCH", "/v1/users/<int:user_id>"),
    ("GET", "/v1/webhooks"),
    ("GET", "/v1/webhooks/<int:webhook_id>"),
    ("PATCH", "/v1/webhooks/<int:webhook_id>"),
    ("DELETE", "/v1/webhooks/<int:webhook_id>"),
    ("POST", "/v1/webhooks/<int:webhook_id>/ping"),
    ("POST", "/v1/webhooks/<int:webhook_id>/rotate-secret"),
    ("GET", "/v1/webhooks/<int:webhook_id>/deliveries"),
    ("GET", "/v1/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>"),
    ("POST", "/v1/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver"),
}
# Bodies an admin would send: the refusal must not depend on the body being wrong.
BODIES: dict[str, dict[str, Any]] = {
    "/v1/authors": {"name": "Mallory"},
    "/v1/books": {
        "title": "T",
        "isbn": "9780441172719",
        "author_id": 1,
        "category": "c",
        "publication_year": 2000,
        "price": "1.00",
    },  # fmt: skip
    "/v1/magazines": {
        "title": "M",
        "issn": "0378-5955",
        "publisher": "P",
        "issue_number": 1,
        "publication_date": "2024-01-01",
        "category": "c",
        "price": "1.00",
    },  # fmt: skip
    "/v1/users": {"role": "admin", "active": True},
    "/v1/webhooks": {"url": "https://example.com/h", "event_types": ["book.created"]},
}


def test_every_operation_is_classified_once(app):
    groups = [PUBLIC, SIGNED_IN, CUSTOMER_ONLY, ADMIN_ONLY]
    assert sum(len(group) for group in groups) == len(set().union(*groups))
    assert set(operations(app)) == set().union(*groups)


@pytest.fixture
def world(app, client, make, alice, admin, monkeypatch) -> dict[str, int]:
    """One of everything; ids for every path parameter (``filename`` for the docs)."""
    book = make.book(stock=5)
    order = place_ok(client, alice, (book.id, 1))
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)
    webhook_id, _ = subscribe(client, admin.headers, "http://127.0.0.1:9/hook")
    delivery = client.post(f"/v1/webhooks/{webhook_id}/ping", headers=admin.headers)
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", False)
    return {
        "author_id": book.author_id,
        "book_id": book.id,
        "magazine_id": make.magazine().id,
        "order_id": order["id"],  # Alice's own: ship is then 403, not 404
        "user_id": alice.id,
        "webhook_id": webhook_id,
        "delivery_id": delivery.get_json()["data"]["id"],
    }


def url_for(rule: str, ids: dict[str, int]) -> str:
    for name, value in ids.items():
        rule = rule.replace(f"<int:{name}>", str(value))
    return rule.replace("<path:filename>", "swagger-ui.css")


def body_for(rule: str) -> dict[str, Any]:
    for prefix, body in BODIES.items():
        if rule.startswith(prefix):
            return body
    return {}


def snapshot() -> dict[str, str]:
    """A digest of every row of every table."""
    digests = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            query = f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table.name} t"
            digests[table.name] = conn.execute(text(query)).scalar()
    return digests


def call(client, method: str, rule: str, ids: dict[str, int], headers: dict[str, str]):
    if rule == "/v1/orders":  # the one operation that requires a key
        headers = {**headers, "Idempotency-Key": "k-function-level"}
    return client.open(url_for(rule, ids), method=method, json=body_for(rule), headers=headers)


def test_customers_get_403_and_anonymous_callers_401_on_every_admin_function(client, world, alice):
    before = snapshot()
    for method, rule in sorted(ADMIN_ONLY):
        assert_error(
            call(client, method, rule, world, alice.headers), 403, "INSUFFICIENT_PERMISSIONS"
        )
        anonymous = call(client, method, rule, world, {})
        assert_error(anonymous, 401, "AUTHENTICATION_REQUIRED")
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert snapshot() == before


def test_admins_pass_the_same_gate(client, world, admin):
    # The control: the same requests as an admin are not refused for their role.
    for method, rule in sorted(ADMIN_ONLY):
        response = call(client, method, rule, world, admin.headers)
        assert response.status_code not in (401, 403), (method, rule, response.get_json())


def test_signed_in_functions_need_a_token(client, world):
    before = snapshot()
    for method, rule in sorted(SIGNED_IN | CUSTOMER_ONLY):
        assert_error(call(client, method, rule, world, {}), 401, "AUTHENTICATION_REQUIRED")
    assert snapshot() == before


def test_customer_functions_are_not_admin_functions(client, world, admin, book):
    # An admin cannot place or pay orders in a customer's name.
    order = client.post("/v1/orders", json=order_body((book.id, 1)), headers=admin.with_key())
    assert_error(order, 403, "INSUFFICIENT_PERMISSIONS")
    paid = client.post(f"/v1/orders/{world['order_id']}/pay", headers=admin.headers)
    assert_error(paid, 403, "INSUFFICIENT_PERMISSIONS")


def test_public_functions_answer_without_a_token(client, world):
    for method, rule in sorted(PUBLIC):
        response = call(client, method, rule, world, {})
        response.close()  # the docs asset is streamed from a file
        assert response.status_code not in (401, 403), (method, rule)
