"""Invalidation by what changed: stock moves a book's own entries, other writes everything."""

from __future__ import annotations

import pytest
import redis
from sqlalchemy import update

from bookstore import create_app
from bookstore.extensions import db
from bookstore.models import Book
from bookstore.redis.cache_stores import entry_key
from bookstore.services import order_expiry
from tests.conftest import REDIS_URL
from tests.ordering import ADDRESS, caller, place_ok


def hit(client, path: str) -> bool:
    return client.get(path).headers["X-Cache"] == "HIT"


def warm(client, *paths: str) -> None:
    for path in paths:
        client.get(path)
        assert hit(client, path), path


@pytest.fixture(params=["redis", "in process"])
def local_or_shared(request, app):
    """The app on the shared Redis store, then the same rules on the in-process one."""
    # Lists live 120 s, not the default 5: none may expire between two asserts on a busy
    # machine (the bound itself is tested below, with apps of its own).
    if request.param == "redis":
        return create_app({"CACHE_LIST_STOCK_MAX_AGE": 120})
    return create_app({"REDIS_URL": None, "CACHE_LIST_STOCK_MAX_AGE": 120})


def test_an_order_goes_stale_only_its_books_own_entries(local_or_shared, make):
    client = local_or_shared.test_client()
    author = make.author()
    ordered, other = make.book(stock=5, author_id=author.id), make.book(stock=5)
    item = f"/v1/books/{ordered.id}"
    lists = ("/v1/books", "/v1/books?sort=-title", f"/v1/authors/{author.id}/books")
    variants = (item, f"{item}?fields=stock", f"{item}?include=author")
    warm(client, *variants, f"/v1/books/{other.id}", *lists)
    place_ok(client, caller(make), (ordered.id, 2))
    for path in variants:
        fresh = client.get(path)
        assert fresh.headers["X-Cache"] == "MISS", path
        assert fresh.get_json()["data"]["stock"] == 3, path
    assert hit(client, f"/v1/books/{other.id}")
    assert all(hit(client, path) for path in lists)  # stock in a list may lag, boundedly


def test_cancelling_and_expiring_return_stock_to_the_item_at_once(local_or_shared, make):
    client = local_or_shared.test_client()
    book = make.book(stock=5)
    item = f"/v1/books/{book.id}"
    customer = caller(make)
    order = place_ok(client, customer, (book.id, 2))
    warm(client, item, "/v1/books")
    cancel = client.post(f"/v1/orders/{order['id']}/cancel", headers=customer.with_key())
    assert cancel.status_code == 200, cancel.get_data(as_text=True)
    assert client.get(item).get_json()["data"]["stock"] == 5
    assert hit(client, "/v1/books")

    place_ok(client, customer, (book.id, 4))
    warm(client, item)
    with local_or_shared.app_context():
        db.session.execute(update(db.metadata.tables["orders"]).values(expires_at=db.func.now()))
        db.session.commit()  # due now: the expiry pass returns the stock
        assert order_expiry.expire_due() == 1
        db.session.remove()
    fresh = client.get(item)
    assert fresh.headers["X-Cache"] == "MISS" and fresh.get_json()["data"]["stock"] == 5
    assert hit(client, "/v1/books")


def test_a_title_change_goes_stale_every_list_and_search(local_or_shared, make, admin_headers):
    client = local_or_shared.test_client()
    book, other = make.book(title="Old words"), make.book()
    lists = ("/v1/books", "/v1/books?q=words", f"/v1/authors/{book.author_id}/books")
    warm(client, *lists, f"/v1/books/{other.id}")
    resp = client.patch(f"/v1/books/{book.id}", json={"title": "New words"}, headers=admin_headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    for path in lists:
        fresh = client.get(path)
        assert fresh.headers["X-Cache"] == "MISS", path
        titles = {row["title"] for row in fresh.get_json()["data"]}
        assert "New words" in titles and "Old words" not in titles, path
    assert not hit(client, f"/v1/books/{other.id}")  # catalog-wide: every entry


def test_a_stock_only_patch_is_exact_on_the_item_and_bounded_on_lists(
    local_or_shared, make, admin_headers
):
    client = local_or_shared.test_client()
    book = make.book(stock=1)
    warm(client, f"/v1/books/{book.id}", "/v1/books")
    resp = client.patch(f"/v1/books/{book.id}", json={"stock": 9}, headers=admin_headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    item = client.get(f"/v1/books/{book.id}")
    assert item.headers["X-Cache"] == "MISS" and item.get_json()["data"]["stock"] == 9
    assert item.headers["ETag"] == resp.headers["ETag"]
    assert hit(client, "/v1/books")


def test_an_unreported_stock_update_goes_stale_everything(local_or_shared, make):
    client = local_or_shared.test_client()
    book = make.book(stock=5)
    warm(client, f"/v1/books/{book.id}", "/v1/books")
    with local_or_shared.app_context():
        db.session.execute(update(Book).where(Book.id == book.id).values(stock=1))
        db.session.commit()  # no books_changed(): safe side, the catalog generation
        db.session.remove()
    assert client.get("/v1/books").get_json()["data"][0]["stock"] == 1
    assert client.get(f"/v1/books/{book.id}").get_json()["data"]["stock"] == 1


def test_a_rolled_back_order_invalidates_nothing(local_or_shared, make):
    client = local_or_shared.test_client()
    book = make.book(stock=1)
    warm(client, f"/v1/books/{book.id}")
    refused = client.post(
        "/v1/orders",
        json={"items": [{"book_id": book.id, "quantity": 2}], "shipping_address": ADDRESS},
        headers=caller(make).with_key(),
    )
    assert refused.status_code == 409, refused.get_data(as_text=True)
    assert hit(client, f"/v1/books/{book.id}")


def test_lists_live_at_most_the_stock_bound_items_the_cache_ttl(make):
    app = create_app({"CACHE_LIST_STOCK_MAX_AGE": 1})
    client = app.test_client()
    book = make.book()
    lists = ("/v1/books", f"/v1/authors/{book.author_id}/books")
    for path in lists:
        assert client.get(path).headers["Cache-Control"] == "public, max-age=1", path
    item = client.get(f"/v1/books/{book.id}")
    assert item.headers["Cache-Control"] == f"public, max-age={app.config['CATALOG_MAX_AGE']}"
    assert client.get("/v1/authors").headers["Cache-Control"] == item.headers["Cache-Control"]
    with redis.Redis.from_url(REDIS_URL) as shared:
        for path in lists:
            assert 0 < shared.ttl(entry_key(path)) <= 1, path
        assert shared.ttl(entry_key(f"/v1/books/{book.id}")) > 1


def test_in_process_lists_live_at_most_the_stock_bound(make):
    app = create_app({"REDIS_URL": None, "CACHE_LIST_STOCK_MAX_AGE": 1})
    client = app.test_client()
    book = make.book()
    client.get("/v1/books"), client.get(f"/v1/books/{book.id}")
    store = app.extensions["bookstore_cache"]
    assert 0 < store.expires_in("/v1/books") <= 1
    assert store.expires_in(f"/v1/books/{book.id}") > 1
