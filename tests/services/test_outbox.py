"""The outbox: an event is written with its change, in the same transaction, or not at all."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import func, select

from bookstore.extensions import db
from bookstore.models import Book, WebhookDelivery, WebhookEvent
from bookstore.schemas.book import book_to_dict
from bookstore.services import outbox
from tests.helpers import assert_error
from tests.webhook_support import subscribe

pytestmark = pytest.mark.usefixtures("fast_webhooks")
HOOK = "http://127.0.0.1:9/hook"


def events(event_type: str | None = None) -> list[dict]:
    stmt = select(WebhookEvent.payload).order_by(WebhookEvent.created_at)
    if event_type:
        stmt = stmt.where(WebhookEvent.type == event_type)
    return [orjson.loads(p) for p in db.session.execute(stmt).scalars()]


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture
def book_body(make):
    author = make.author()
    return {
        "title": "Dune",
        "isbn": "9780441172719",
        "author_id": author.id,
        "category": "science-fiction",
        "publication_year": 1965,
        "price": "9.99",
        "stock": 10,
    }


def test_created_book_leaves_exactly_one_event_with_its_representation(
    client, admin_headers, book_body
):
    subscribe(client, admin_headers, HOOK, ["book.created", "book.updated"])
    resp = client.post("/v1/books", json=book_body, headers=admin_headers)
    assert resp.status_code == 201
    [event] = events()
    assert set(event) == {"id", "type", "created_at", "data"}
    assert event["type"] == "book.created" and event["id"].startswith("evt_")
    assert event["created_at"].endswith("Z")
    assert event["data"] == resp.get_json()["data"]
    assert count(WebhookDelivery) == 1


@pytest.mark.parametrize(
    "change",
    [{"price": "9.999"}, {"isbn": "bad"}, {"author_id": 99999}, {"title": None}],
    ids=["validation", "isbn", "foreign-key", "null"],
)
def test_failed_create_leaves_no_event(client, admin_headers, book_body, change):
    subscribe(client, admin_headers, HOOK, ["book.created"])
    resp = client.post("/v1/books", json={**book_body, **change}, headers=admin_headers)
    assert resp.status_code == 400
    assert events() == [] and count(WebhookDelivery) == 0


def test_duplicate_isbn_rolls_back_the_event_too(client, admin_headers, book_body, make):
    make.book(isbn=book_body["isbn"])
    subscribe(client, admin_headers, HOOK, ["book.created"])
    resp = client.post("/v1/books", json=book_body, headers=admin_headers)
    assert_error(resp, 409, "DUPLICATE_RESOURCE")
    assert events() == [] and count(WebhookDelivery) == 0


def test_emit_then_rollback_leaves_nothing(client, admin_headers, app):
    subscribe(client, admin_headers, HOOK, ["order.paid"])
    with app.app_context():
        outbox.emit("order.paid", {"id": 1})
        db.session.rollback()
        assert count(WebhookEvent) == 0 and count(WebhookDelivery) == 0
        outbox.emit("order.paid", {"id": 1})
        db.session.commit()
    assert count(WebhookEvent) == 1 and count(WebhookDelivery) == 1


def test_update_and_delete_emit_once_each(client, admin_headers, make):
    book = make.book(stock=20)
    path = f"/v1/books/{book.id}"
    assert client.patch(path, json={"title": "New"}, headers=admin_headers).status_code == 200
    [updated] = events("book.updated")
    assert updated["data"]["title"] == "New"
    assert client.delete(path, headers=admin_headers).status_code == 204
    [deleted] = events("book.deleted")
    assert deleted["data"]["id"] == book.id and deleted["data"]["title"] == "New"


def test_write_that_changes_nothing_emits_nothing(client, admin_headers, make):
    book = make.book(stock=20)
    body = book_to_dict(book)
    resp = client.patch(
        f"/v1/books/{book.id}", json={"title": body["title"]}, headers=admin_headers
    )
    assert resp.status_code == 200
    assert events() == []


def test_failed_update_leaves_no_event(client, admin_headers, make):
    book = make.book(stock=20)
    path = f"/v1/books/{book.id}"
    stale = {**admin_headers, "If-Match": '"stale"'}
    assert client.patch(path, json={"title": "X"}, headers=stale).status_code == 412
    assert client.patch(path, json={"stock": -1}, headers=admin_headers).status_code == 400
    assert events() == []


def test_low_stock_only_when_crossing_the_threshold(client, admin_headers, make, app, monkeypatch):
    monkeypatch.setitem(app.config, "LOW_STOCK_THRESHOLD", 5)
    book = make.book(stock=10)
    path = f"/v1/books/{book.id}"
    for stock in (6, 5, 2, 9, 0):
        client.patch(path, json={"stock": stock}, headers=admin_headers)
    low = events("book.low_stock")
    assert [event["data"]["stock"] for event in low] == [5, 0]  # 6->5 and 9->0 crossed
    assert len(events("book.updated")) == 5


def test_new_book_below_threshold_is_not_low_stock(client, admin_headers, book_body):
    client.post("/v1/books", json={**book_body, "stock": 1}, headers=admin_headers)
    assert events("book.low_stock") == []


def test_low_stock_helper_accepts_an_id(app_ctx, make):
    book = make.book(stock=10)
    db.session.get(Book, book.id).stock = 1
    assert outbox.emit_low_stock_if_crossed(book.id, old_stock=10) is True
    assert outbox.emit_low_stock_if_crossed(book.id, old_stock=3) is False
    db.session.commit()
    [event] = events("book.low_stock")
    assert event["data"]["stock"] == 1


def test_deliveries_only_for_active_matching_subscriptions(client, admin_headers, make):
    wanted, _ = subscribe(client, admin_headers, HOOK, ["book.deleted", "book.created"])
    subscribe(client, admin_headers, HOOK, ["order.paid"])
    subscribe(client, admin_headers, HOOK, ["book.deleted"], active=False)
    book = make.book()
    client.delete(f"/v1/books/{book.id}", headers=admin_headers)
    rows = db.session.execute(select(WebhookDelivery.subscription_id)).scalars().all()
    assert rows == [wanted]


def test_unknown_event_type_is_a_programming_error(app_ctx):
    with pytest.raises(ValueError, match="unknown webhook event type"):
        outbox.emit("book.exploded", {})
