"""The worker against a real HTTP receiver: signing, retries, failures, the attempt log."""

from __future__ import annotations

import datetime as dt
import time

import orjson
import pytest
from sqlalchemy import select

from bookstore.extensions import db
from bookstore.models import WebhookDelivery, WebhookEvent
from tests.webhook_support import Reply, deliver_due, subscribe, verify

pytestmark = pytest.mark.usefixtures("fast_webhooks")


@pytest.fixture
def hook(client, admin_headers, receiver):
    """A subscription to book.created pointing at the receiver, which knows its secret."""
    webhook_id, secret = subscribe(client, admin_headers, receiver.url, ["book.created"])
    receiver.secret = secret
    return webhook_id


def create_book(client, admin_headers, make) -> dict:
    author = make.author()
    body = {
        "title": "Dune",
        "isbn": "9780441172719",
        "author_id": author.id,
        "category": "fiction",
        "publication_year": 1965,
        "price": "9.99",
    }
    resp = client.post("/v1/books", json=body, headers=admin_headers)
    assert resp.status_code == 201
    return resp.get_json()["data"]


def deliveries(client, admin_headers, webhook_id: int) -> list[dict]:
    resp = client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=admin_headers)
    assert resp.status_code == 200
    return resp.get_json()["data"]


def detail(client, admin_headers, webhook_id: int, delivery_id: int) -> dict:
    path = f"/v1/webhooks/{webhook_id}/deliveries/{delivery_id}"
    return client.get(path, headers=admin_headers).get_json()["data"]


def stored(delivery_id: int) -> WebhookDelivery:
    db.session.expire_all()
    return db.session.get(WebhookDelivery, delivery_id)


def wait_until(moment: dt.datetime) -> None:
    time.sleep(max(0.0, (moment - dt.datetime.now(dt.UTC)).total_seconds()) + 0.05)


def test_delivery_is_signed_and_carries_the_event(app, client, admin_headers, make, receiver, hook):
    book = create_book(client, admin_headers, make)
    assert receiver.received == []  # nothing is sent from inside the request
    assert deliver_due(app) == {"delivered": 1}
    [request] = receiver.received
    [delivery] = deliveries(client, admin_headers, hook)
    event = db.session.execute(select(WebhookEvent)).scalar_one()

    assert request.signature_ok
    assert request.path == "/hook"
    assert request.body == event.payload.encode()
    assert request.json["data"] == book and request.json["type"] == "book.created"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("Bookstore-Webhooks/")
    assert request.headers["X-Bookstore-Event-Id"] == event.id == delivery["event_id"]
    assert request.headers["X-Bookstore-Event-Type"] == "book.created"
    assert request.headers["X-Bookstore-Delivery-Id"] == str(delivery["id"])
    assert request.headers["X-Bookstore-Signature"].startswith("t=")

    assert delivery["status"] == "delivered" and delivery["attempt_count"] == 1
    assert delivery["last_status_code"] == 200 and delivery["delivered_at"]
    assert delivery["next_attempt_at"] is None
    [attempt] = detail(client, admin_headers, hook, delivery["id"])["attempts"]
    assert attempt["attempt"] == 1 and attempt["status_code"] == 200
    assert attempt["response_body"] == '{"ok":true}' and attempt["duration_ms"] >= 0
    assert deliver_due(app) == {}  # delivered once, never again


def test_500_then_timeout_then_success_retries_with_growing_backoff(
    app, client, admin_headers, make, receiver, hook
):
    receiver.reply(500, Reply(200, delay=1.5))  # the second answer comes after the read timeout
    create_book(client, admin_headers, make)
    [delivery] = deliveries(client, admin_headers, hook)
    base = app.config["WEBHOOK_BACKOFF_BASE"]

    schedule = []
    for attempt in (1, 2):
        before = dt.datetime.now(dt.UTC)
        assert deliver_due(app) == {"pending": 1}
        row = stored(delivery["id"])
        assert row.status == "pending" and row.attempts == attempt
        # Full jitter: somewhere in [0, base * 2^(attempt-1)] after the attempt.
        delay = (row.next_attempt_at - before).total_seconds()
        assert 0 <= delay <= base * 2 ** (attempt - 1) + (time.time() - before.timestamp())
        schedule.append(row.next_attempt_at)
        wait_until(row.next_attempt_at)
    assert schedule[0] < schedule[1]

    assert deliver_due(app) == {"delivered": 1}
    data = detail(client, admin_headers, hook, delivery["id"])
    assert data["status"] == "delivered" and data["attempt_count"] == 3
    first, second, third = data["attempts"]
    assert first["status_code"] == 500 and first["error"] is None
    assert second["status_code"] is None and second["error"].startswith("ReadTimeoutError")
    assert second["duration_ms"] >= 400
    assert third["status_code"] == 200
    assert [r.event_id for r in receiver.received] == [delivery["event_id"]] * 3
    assert all(r.signature_ok for r in receiver.received)


@pytest.mark.parametrize("status", [400, 401, 404, 422, 301])
def test_other_4xx_and_redirects_fail_at_once(
    app, client, admin_headers, make, receiver, hook, status
):
    receiver.reply(Reply(status, headers={"Location": "/elsewhere"}))
    create_book(client, admin_headers, make)
    assert deliver_due(app) == {"failed": 1}
    [delivery] = deliveries(client, admin_headers, hook)
    assert delivery["status"] == "failed" and delivery["attempt_count"] == 1
    assert delivery["last_status_code"] == status
    assert len(receiver.received) == 1  # a redirect is not followed


def test_410_gone_deactivates_the_subscription(app, client, admin_headers, make, receiver, hook):
    receiver.reply(410)
    create_book(client, admin_headers, make)
    assert deliver_due(app) == {"failed": 1}
    webhook = client.get(f"/v1/webhooks/{hook}", headers=admin_headers).get_json()["data"]
    assert webhook["active"] is False and "410" in webhook["disabled_reason"]
    make.book()  # no delivery for an inactive subscription
    assert len(deliveries(client, admin_headers, hook)) == 1


def test_gives_up_after_max_attempts(app, client, admin_headers, make, receiver, hook, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_MAX_ATTEMPTS", 2)
    monkeypatch.setitem(app.config, "WEBHOOK_BACKOFF_BASE", 0.0)
    receiver.default = Reply(503)
    create_book(client, admin_headers, make)
    assert deliver_due(app) == {"pending": 1}
    assert deliver_due(app) == {"failed": 1}
    [delivery] = deliveries(client, admin_headers, hook)
    assert delivery["status"] == "failed" and delivery["attempt_count"] == 2
    assert delivery["last_status_code"] == 503 and delivery["next_attempt_at"] is None
    assert deliver_due(app) == {}


def test_429_honours_retry_after_within_the_cap(
    app, client, admin_headers, make, receiver, hook, monkeypatch
):
    receiver.reply(
        Reply(429, headers={"Retry-After": "30"}), Reply(429, headers={"Retry-After": "9999"})
    )
    create_book(client, admin_headers, make)
    [delivery] = deliveries(client, admin_headers, hook)
    before = dt.datetime.now(dt.UTC)
    deliver_due(app)
    assert 29 <= (stored(delivery["id"]).next_attempt_at - before).total_seconds() <= 31
    row = stored(delivery["id"])
    row.next_attempt_at = before
    db.session.commit()
    deliver_due(app)
    cap = app.config["WEBHOOK_BACKOFF_CAP"]
    assert (stored(delivery["id"]).next_attempt_at - before).total_seconds() <= cap + 1


def test_connection_refused_is_retried(app, client, admin_headers, make):
    webhook_id, _ = subscribe(client, admin_headers, "http://127.0.0.1:9/hook")
    create_book(client, admin_headers, make)
    assert deliver_due(app) == {"pending": 1}
    [delivery] = deliveries(client, admin_headers, webhook_id)
    assert delivery["last_status_code"] is None
    assert delivery["last_error"].startswith("NewConnectionError")


def test_url_is_checked_again_at_delivery_time(
    app, client, admin_headers, make, receiver, hook, monkeypatch
):
    create_book(client, admin_headers, make)
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", False)
    assert deliver_due(app) == {"failed": 1}
    assert receiver.received == []
    [delivery] = deliveries(client, admin_headers, hook)
    assert delivery["last_error"].startswith("UnsafeURL")


def test_rotated_secret_signs_later_attempts(app, client, admin_headers, make, receiver, hook):
    create_book(client, admin_headers, make)
    resp = client.post(f"/v1/webhooks/{hook}/rotate-secret", headers=admin_headers)
    old, receiver.secret = receiver.secret, resp.get_json()["data"]["secret"]
    deliver_due(app)
    [request] = receiver.received
    assert request.signature_ok
    assert not verify(old, request.headers["X-Bookstore-Signature"], request.body)


def test_inactive_subscription_holds_its_deliveries(
    app, client, admin_headers, make, receiver, hook
):
    create_book(client, admin_headers, make)
    client.patch(f"/v1/webhooks/{hook}", json={"active": False}, headers=admin_headers)
    assert deliver_due(app) == {}
    assert deliveries(client, admin_headers, hook)[0]["status"] == "pending"
    client.patch(f"/v1/webhooks/{hook}", json={"active": True}, headers=admin_headers)
    assert deliver_due(app) == {"delivered": 1}


def test_payload_is_identical_on_every_attempt(
    app, client, admin_headers, make, receiver, hook, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_BACKOFF_BASE", 0.0)
    receiver.reply(502)
    create_book(client, admin_headers, make)
    deliver_due(app)
    deliver_due(app)
    first, second = receiver.received
    assert first.body == second.body and orjson.loads(first.body)["type"] == "book.created"
