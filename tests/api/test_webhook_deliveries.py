"""The delivery log API: list with filters, one delivery with attempts, redeliver, ping."""

from __future__ import annotations

import pytest

from tests.helpers import assert_error
from tests.webhook_support import deliver_due, subscribe

pytestmark = pytest.mark.usefixtures("fast_webhooks")


@pytest.fixture
def hook(client, admin_headers, receiver):
    webhook_id, secret = subscribe(
        client, admin_headers, receiver.url, ["book.created", "book.deleted"]
    )
    receiver.secret = secret
    return webhook_id


def base(webhook_id: int) -> str:
    return f"/v1/webhooks/{webhook_id}/deliveries"


def test_list_is_newest_first_with_status_and_type_filters(
    app, client, admin_headers, make, receiver, hook
):
    book = make.book()
    client.delete(f"/v1/books/{book.id}", headers=admin_headers)  # book.deleted
    receiver.reply(500)
    for _ in range(3):
        make.book()  # not through the API: no event
    resp = client.post(
        "/v1/books",
        json={
            "title": "T",
            "isbn": "9780441172719",
            "author_id": make.author().id,
            "category": "c",
            "publication_year": 2000,
            "price": "1.00",
        },
        headers=admin_headers,
    )
    assert resp.status_code == 201
    deliver_due(app)  # the delete gets the 500, the create is delivered

    page = client.get(base(hook), headers=admin_headers)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "private, no-store"
    items = page.get_json()["data"]
    assert [item["event_type"] for item in items] == ["book.created", "book.deleted"]
    assert set(items[0]) == {
        "id",
        "event_id",
        "event_type",
        "status",
        "attempt_count",
        "last_status_code",
        "last_error",
        "last_duration_ms",
        "next_attempt_at",
        "created_at",
        "delivered_at",
        "_links",
    }
    assert items[0]["_links"]["self"] == f"{base(hook)}/{items[0]['id']}"
    pending = client.get(base(hook) + "?status=pending", headers=admin_headers).get_json()
    assert [item["event_type"] for item in pending["data"]] == ["book.deleted"]
    assert pending["data"][0]["last_status_code"] == 500 and pending["data"][0]["next_attempt_at"]
    created = client.get(base(hook) + "?event_type=book.created", headers=admin_headers)
    assert [item["status"] for item in created.get_json()["data"]] == ["delivered"]
    paged = client.get(base(hook) + "?per_page=1", headers=admin_headers).get_json()
    assert paged["pagination"]["total"] == 2 and paged["links"]["next"]
    cursor = paged["pagination"]["next_cursor"]
    rest = client.get(base(hook) + f"?per_page=1&cursor={cursor}", headers=admin_headers)
    assert [item["event_type"] for item in rest.get_json()["data"]] == ["book.deleted"]


@pytest.mark.parametrize(
    "query", ["status=lost", "event_type=book.exploded", "per_page=0", "sort=url"]
)
def test_bad_list_query_is_400(client, admin_headers, hook, query):
    resp = client.get(f"{base(hook)}?{query}", headers=admin_headers)
    assert_error(resp, 400, "INVALID_QUERY_PARAMETER")


def test_one_delivery_shows_its_event_and_attempts(app, client, admin_headers, make, hook):
    book = make.book()
    client.delete(f"/v1/books/{book.id}", headers=admin_headers)
    deliver_due(app)
    [item] = client.get(base(hook), headers=admin_headers).get_json()["data"]
    resp = client.get(item["_links"]["self"], headers=admin_headers)
    assert resp.status_code == 200 and resp.headers["ETag"]
    data = resp.get_json()["data"]
    assert data["event"]["type"] == "book.deleted" and data["event"]["data"]["id"] == book.id
    assert data["event"]["id"] == data["event_id"]
    [attempt] = data["attempts"]
    assert set(attempt) == {
        "attempt",
        "started_at",
        "finished_at",
        "duration_ms",
        "status_code",
        "error",
        "response_body",
    }
    assert attempt["status_code"] == 200
    again = client.get(
        item["_links"]["self"], headers={**admin_headers, "If-None-Match": resp.headers["ETag"]}
    )
    assert again.status_code == 304


def test_redeliver_queues_a_copy_of_a_settled_delivery(
    app, client, admin_headers, make, receiver, hook
):
    receiver.reply(400)
    book = make.book()
    client.delete(f"/v1/books/{book.id}", headers=admin_headers)
    [original] = client.get(base(hook), headers=admin_headers).get_json()["data"]
    path = f"{base(hook)}/{original['id']}/redeliver"
    resp = client.post(path, headers=admin_headers)
    assert_error(resp, 409, "INVALID_STATE_TRANSITION")  # still pending

    deliver_due(app)  # 400: failed at once
    resp = client.post(path, headers=admin_headers)
    assert resp.status_code == 202
    copy = resp.get_json()["data"]
    assert resp.headers["Location"] == copy["_links"]["self"]
    assert copy["id"] != original["id"] and copy["event_id"] == original["event_id"]
    assert copy["status"] == "pending" and copy["attempt_count"] == 0
    assert deliver_due(app) == {"delivered": 1}
    first, second = receiver.received
    assert first.event_id == second.event_id  # receivers deduplicate on the event id
    assert first.headers["X-Bookstore-Delivery-Id"] != second.headers["X-Bookstore-Delivery-Id"]
    statuses = {
        d["id"]: d["status"]
        for d in client.get(base(hook), headers=admin_headers).get_json()["data"]
    }
    assert statuses == {original["id"]: "failed", copy["id"]: "delivered"}


def test_ping_goes_to_that_webhook_only(app, client, admin_headers, receiver, hook):
    other, _ = subscribe(client, admin_headers, receiver.url, ["book.created"])
    resp = client.post(f"/v1/webhooks/{hook}/ping", headers=admin_headers)
    assert resp.status_code == 202
    delivery = resp.get_json()["data"]
    assert delivery["event_type"] == "ping" and delivery["status"] == "pending"
    assert resp.headers["Location"] == f"{base(hook)}/{delivery['id']}"
    assert deliver_due(app) == {"delivered": 1}
    [request] = receiver.received
    assert request.signature_ok and request.json["type"] == "ping"
    assert request.json["data"] == {"webhook_id": hook}
    assert client.get(base(other), headers=admin_headers).get_json()["data"] == []


def test_ping_and_redeliver_refused_while_inactive(
    app, client, admin_headers, make, receiver, hook
):
    receiver.reply(410)
    book = make.book()
    client.delete(f"/v1/books/{book.id}", headers=admin_headers)
    deliver_due(app)
    [item] = client.get(base(hook), headers=admin_headers).get_json()["data"]
    assert_error(
        client.post(f"/v1/webhooks/{hook}/ping", headers=admin_headers),
        409,
        "INVALID_STATE_TRANSITION",
    )
    assert_error(
        client.post(item["_links"]["redeliver"], headers=admin_headers),
        409,
        "INVALID_STATE_TRANSITION",
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/webhooks/999/deliveries"),
        ("get", "/v1/webhooks/{hook}/deliveries/999"),
        ("post", "/v1/webhooks/{hook}/deliveries/999/redeliver"),
        ("post", "/v1/webhooks/999/ping"),
    ],
)
def test_unknown_ids_are_404(client, admin_headers, hook, method, path):
    resp = getattr(client, method)(path.format(hook=hook), headers=admin_headers)
    assert_error(resp, 404, "RESOURCE_NOT_FOUND")


def test_delivery_of_another_webhook_is_404(app, client, admin_headers, make, receiver, hook):
    other, _ = subscribe(client, admin_headers, receiver.url, ["book.deleted"])
    book = make.book()
    client.delete(f"/v1/books/{book.id}", headers=admin_headers)
    [item] = client.get(base(hook), headers=admin_headers).get_json()["data"]
    assert_error(
        client.get(f"{base(other)}/{item['id']}", headers=admin_headers), 404, "RESOURCE_NOT_FOUND"
    )


def test_delivery_log_is_admin_only(client, auth_headers, hook):
    assert_error(client.get(base(hook)), 401, "AUTHENTICATION_REQUIRED")
    assert_error(client.get(base(hook), headers=auth_headers), 403, "INSUFFICIENT_PERMISSIONS")
    resp = client.post(f"/v1/webhooks/{hook}/ping", headers=auth_headers)
    assert_error(resp, 403, "INSUFFICIENT_PERMISSIONS")
