"""Webhook subscriptions: CRUD, the shown-once secret, URL rules (SSRF, https)."""

from __future__ import annotations

import pytest

from bookstore.extensions import db
from bookstore.models import WebhookDelivery, WebhookSubscription
from bookstore.services.webhooks.signing import decrypt_secret
from tests.helpers import assert_error
from tests.webhook_support import subscribe

PUBLIC = "https://93.184.216.34/hooks"  # a public address literal: no DNS needed
pytestmark = pytest.mark.usefixtures("fast_webhooks")


def test_create_shows_secret_once_and_never_again(client, admin_headers):
    body = {"url": PUBLIC, "event_types": ["book.created", "order.paid"], "description": "CRM"}
    resp = client.post("/v1/webhooks", json=body, headers=admin_headers)
    assert resp.status_code == 201
    data = resp.get_json()["data"]
    assert resp.headers["Location"] == f"/v1/webhooks/{data['id']}"
    assert resp.headers["Cache-Control"] == "private, no-store"
    secret = data.pop("secret")
    assert secret.startswith("whsec_") and len(secret) > 40
    assert data["event_types"] == ["book.created", "order.paid"]
    assert data["active"] is True and data["disabled_reason"] is None
    assert data["_links"]["rotate_secret"] == f"/v1/webhooks/{data['id']}/rotate-secret"

    fetched = client.get(resp.headers["Location"], headers=admin_headers)
    assert fetched.get_json()["data"] == data
    listed = client.get("/v1/webhooks", headers=admin_headers).get_json()["data"]
    assert listed == [data]
    for text in (fetched.get_data(as_text=True), str(listed)):
        assert secret not in text and '"secret"' not in text and "'secret'" not in text

    stored = db.session.get(WebhookSubscription, data["id"])
    assert secret not in stored.secret_encrypted  # encrypted at rest...
    assert decrypt_secret(stored.secret_encrypted) == secret  # ...and readable by the worker


def test_rotate_secret_shows_a_new_one_once(client, admin_headers):
    webhook_id, old = subscribe(client, admin_headers, PUBLIC)
    resp = client.post(f"/v1/webhooks/{webhook_id}/rotate-secret", headers=admin_headers)
    assert resp.status_code == 200
    new = resp.get_json()["data"]["secret"]
    assert new.startswith("whsec_") and new != old
    stored = db.session.get(WebhookSubscription, webhook_id)
    assert decrypt_secret(stored.secret_encrypted) == new
    assert (
        "secret"
        not in client.get(f"/v1/webhooks/{webhook_id}", headers=admin_headers).get_json()["data"]
    )


def test_duplicate_event_types_are_dropped(client, admin_headers):
    body = {"url": PUBLIC, "event_types": ["book.updated", "book.updated", "book.deleted"]}
    resp = client.post("/v1/webhooks", json=body, headers=admin_headers)
    assert resp.get_json()["data"]["event_types"] == ["book.updated", "book.deleted"]


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"event_types": []}, "event_types", "TOO_SHORT"),
        ({"event_types": ["*"]}, "event_types", "INVALID_CHOICE"),
        ({"event_types": ["book.created", "ping"]}, "event_types", "INVALID_CHOICE"),
        ({"event_types": "book.created"}, "event_types", "INVALID_TYPE"),
        ({"event_types": None}, "event_types", "NULL_NOT_ALLOWED"),
        ({"url": "ftp://93.184.216.34/x"}, "url", "INVALID_FORMAT"),
        ({"url": "not a url"}, "url", "INVALID_FORMAT"),
        ({"url": "https://user:pw@93.184.216.34/"}, "url", "INVALID_FORMAT"),
        ({"url": "https://93.184.216.34/#frag"}, "url", "INVALID_FORMAT"),
        ({"url": "https://93.184.216.34:99999/"}, "url", "INVALID_FORMAT"),
        ({"url": "https://93.184.216.34/" + "a" * 2048}, "url", "TOO_LONG"),
        ({"url": "https://does-not-exist.invalid/"}, "url", "UNRESOLVABLE_HOST"),
        ({"active": "yes"}, "active", "INVALID_TYPE"),
        ({"description": "x" * 501}, "description", "TOO_LONG"),
        ({"secret": "mine"}, "secret", "UNKNOWN_FIELD"),
    ],
)
def test_invalid_subscriptions_are_400(client, admin_headers, change, field, code):
    body = {"url": PUBLIC, "event_types": ["book.created"], **change}
    resp = client.post("/v1/webhooks", json=body, headers=admin_headers)
    details = assert_error(resp, 400, "VALIDATION_ERROR")["error"]["details"]
    assert {"field": field, "code": code} in [
        {"field": d["field"], "code": d["code"]} for d in details
    ]
    assert db.session.query(WebhookSubscription).count() == 0


def test_missing_fields_are_named(client, admin_headers):
    resp = client.post("/v1/webhooks", json={}, headers=admin_headers)
    details = assert_error(resp, 400, "VALIDATION_ERROR")["error"]["details"]
    assert {d["field"] for d in details} == {"url", "event_types"}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://10.0.0.1/hook",
        "http://192.168.1.10/hook",
        "http://172.16.0.1/hook",
        "http://100.64.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fe80::1]/hook",
        "http://2130706433/hook",  # 127.0.0.1 written as one number
        "http://localhost:8000/hook",  # a name that resolves to loopback
        "http://240.0.0.1/hook",  # reserved
    ],
)
def test_ssrf_targets_are_refused_unless_allowed(client, admin_headers, app, monkeypatch, url):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", False)
    resp = client.post(
        "/v1/webhooks", json={"url": url, "event_types": ["book.created"]}, headers=admin_headers
    )
    details = assert_error(resp, 400, "VALIDATION_ERROR")["error"]["details"]
    assert details[0]["field"] == "url" and details[0]["code"] == "DISALLOWED_ADDRESS"
    assert db.session.query(WebhookSubscription).count() == 0


def test_private_targets_allowed_when_configured(client, admin_headers):
    resp = client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["book.created"]},
        headers=admin_headers,
    )
    assert resp.status_code == 201


def test_https_required_in_production(client, admin_headers, app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_REQUIRE_HTTPS", True)
    body = {"url": "http://93.184.216.34/hooks", "event_types": ["book.created"]}
    details = assert_error(
        client.post("/v1/webhooks", json=body, headers=admin_headers), 400, "VALIDATION_ERROR"
    )["error"]["details"]
    assert details == [{"field": "url", "code": "HTTPS_REQUIRED", "message": "Must use https."}]
    assert (
        client.post("/v1/webhooks", json={**body, "url": PUBLIC}, headers=admin_headers).status_code
        == 201
    )


def test_patch_merges_revalidates_url_and_honours_if_match(client, admin_headers, app, monkeypatch):
    webhook_id, _ = subscribe(client, admin_headers, PUBLIC, description="old")
    path = f"/v1/webhooks/{webhook_id}"
    resp = client.patch(
        path,
        json={"description": None, "event_types": ["order.shipped"], "active": False},
        headers=admin_headers,
        content_type="application/merge-patch+json",
    )
    data = resp.get_json()["data"]
    assert resp.status_code == 200
    assert (data["description"], data["event_types"], data["active"]) == (
        None,
        ["order.shipped"],
        False,
    )
    assert data["url"] == PUBLIC

    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", False)
    resp = client.patch(path, json={"url": "http://169.254.169.254/"}, headers=admin_headers)
    assert assert_error(resp, 400, "VALIDATION_ERROR")["error"]["details"][0]["field"] == "url"
    assert_error(
        client.patch(path, json={"url": None}, headers=admin_headers), 400, "VALIDATION_ERROR"
    )

    stale = {**admin_headers, "If-Match": '"not-the-etag"'}
    assert_error(
        client.patch(path, json={"active": True}, headers=stale), 412, "PRECONDITION_FAILED"
    )
    etag = client.get(path, headers=admin_headers).headers["ETag"]
    resp = client.patch(path, json={"active": True}, headers={**admin_headers, "If-Match": etag})
    assert resp.status_code == 200 and resp.get_json()["data"]["active"] is True


def test_reactivation_clears_disabled_reason(client, admin_headers):
    webhook_id, _ = subscribe(client, admin_headers, PUBLIC)
    webhook = db.session.get(WebhookSubscription, webhook_id)
    webhook.active, webhook.disabled_reason = False, "The receiver answered 410 Gone"
    db.session.commit()
    resp = client.patch(f"/v1/webhooks/{webhook_id}", json={"active": True}, headers=admin_headers)
    assert resp.get_json()["data"]["disabled_reason"] is None


def test_delete_removes_subscription_and_its_deliveries(client, admin_headers, make):
    webhook_id, _ = subscribe(client, admin_headers, PUBLIC)
    author = make.author()
    client.post(
        "/v1/books",
        json={
            "title": "T",
            "isbn": "9780441172719",
            "author_id": author.id,
            "category": "c",
            "publication_year": 2000,
            "price": "1.00",
        },
        headers=admin_headers,
    )
    assert db.session.query(WebhookDelivery).count() == 1
    assert client.delete(f"/v1/webhooks/{webhook_id}", headers=admin_headers).status_code == 204
    assert db.session.query(WebhookDelivery).count() == 0
    assert_error(
        client.get(f"/v1/webhooks/{webhook_id}", headers=admin_headers), 404, "RESOURCE_NOT_FOUND"
    )


def test_list_is_paginated_and_filters_active(client, admin_headers):
    ids = [subscribe(client, admin_headers, PUBLIC)[0] for _ in range(3)]
    client.patch(f"/v1/webhooks/{ids[1]}", json={"active": False}, headers=admin_headers)
    page = client.get("/v1/webhooks?per_page=2", headers=admin_headers).get_json()
    assert [item["id"] for item in page["data"]] == ids[:2]
    assert page["pagination"]["total"] == 3 and page["links"]["next"]
    active = client.get("/v1/webhooks?active=false", headers=admin_headers).get_json()["data"]
    assert [item["id"] for item in active] == [ids[1]]
    assert_error(
        client.get("/v1/webhooks?per_page=101", headers=admin_headers),
        400,
        "INVALID_QUERY_PARAMETER",
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/webhooks/999"),
        ("patch", "/v1/webhooks/999"),
        ("delete", "/v1/webhooks/999"),
        ("post", "/v1/webhooks/999/rotate-secret"),
    ],
)
def test_unknown_webhook_is_404(client, admin_headers, method, path):
    kwargs = {"json": {"active": True}} if method == "patch" else {}
    resp = getattr(client, method)(path, headers=admin_headers, **kwargs)
    assert_error(resp, 404, "RESOURCE_NOT_FOUND")


def test_webhooks_are_admin_only(client, auth_headers):
    assert_error(client.get("/v1/webhooks"), 401, "AUTHENTICATION_REQUIRED")
    assert_error(client.get("/v1/webhooks", headers=auth_headers), 403, "INSUFFICIENT_PERMISSIONS")
    body = {"url": PUBLIC, "event_types": ["book.created"]}
    assert_error(
        client.post("/v1/webhooks", json=body, headers=auth_headers),
        403,
        "INSUFFICIENT_PERMISSIONS",
    )


def test_non_json_body_is_415(client, admin_headers):
    resp = client.post(
        "/v1/webhooks", data="url=x", headers=admin_headers, content_type="text/plain"
    )
    assert_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE")
