"""The catalog response cache through the test client, on the real Redis (REDIS_URL)."""

from __future__ import annotations

import time

import pytest
import redis
from flask import Response, request
from sqlalchemy import update

from bookstore import create_app
from bookstore.extensions import db
from bookstore.models import Book
from bookstore.redis import cache, cache_keys
from bookstore.web.requests import request_id
from tests.conftest import REDIS_URL
from tests.helpers import assert_error
from tests.ordering import caller, place_ok


def strip_meta(resp) -> dict:
    body = resp.get_json()
    assert body["meta"]["request_id"] == resp.headers["X-Request-ID"]
    return {k: v for k, v in body.items() if k != "meta"}


def test_a_hit_is_the_miss_with_a_fresh_request_id(client, make):
    book = make.book(title="Hyperion")
    miss = client.get(f"/v1/books/{book.id}")
    hit = client.get(f"/v1/books/{book.id}")
    assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("MISS", "HIT")
    assert hit.status_code == 200 and strip_meta(hit) == strip_meta(miss)
    assert hit.headers["X-Request-ID"] != miss.headers["X-Request-ID"]
    for name in ("ETag", "Cache-Control", "Content-Type"):
        assert hit.headers[name] == miss.headers[name], name
    assert hit.get_json()["data"]["title"] == "Hyperion"


def test_a_hit_honours_if_none_match(client, make):
    book = make.book()
    etag = client.get(f"/v1/books/{book.id}").headers["ETag"]
    resp = client.get(f"/v1/books/{book.id}", headers={"If-None-Match": f'"other", {etag}'})
    assert resp.status_code == 304 and resp.data == b""
    assert resp.headers["X-Cache"] == "HIT" and resp.headers["ETag"] == etag
    assert client.get(f"/v1/books/{book.id}", headers={"If-None-Match": '"x"'}).status_code == 200


def test_lists_are_keyed_on_path_and_sorted_query_parameters(client, make):
    for _ in range(3):
        make.book()
    miss = client.get("/v1/books?per_page=2&sort=-title")
    hit = client.get("/v1/books?sort=-title&per_page=2")
    assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("MISS", "HIT")
    assert strip_meta(hit) == strip_meta(miss) and hit.headers["Link"] == miss.headers["Link"]
    assert client.get("/v1/books?per_page=3&sort=-title").headers["X-Cache"] == "MISS"


def test_every_spelling_of_one_query_is_one_entry(client, make):
    for _ in range(3):
        make.book(category="poetry")
    miss = client.get("/v1/books?category=poetry&per_page=2")
    assert miss.headers["X-Cache"] == "MISS" and len(miss.get_json()["data"]) == 2
    for spelling in ("per_page=02&category=poetry", "c%61tegory=poetry&per_page=2"):
        hit = client.get(f"/v1/books?{spelling}")
        assert hit.headers["X-Cache"] == "HIT", spelling
        assert strip_meta(hit)["data"] == strip_meta(miss)["data"]


def test_queries_the_view_would_refuse_are_not_cached(client, make):
    make.book(category="poetry")
    for query in ("category=poetry&category=history", "category=poetry&junk=1", "per_page=x"):
        for _ in range(2):
            resp = client.get(f"/v1/books?{query}")
            assert "X-Cache" not in resp.headers, query
    # The view reads the first of two values; the request is served, just not cached.
    resp = client.get("/v1/books?category=poetry&category=history")
    assert resp.status_code == 200 and len(resp.get_json()["data"]) == 1


def spelt(name: str, mask: int) -> str:
    """``name`` with the letters picked by the bits of ``mask`` percent-encoded."""
    return "".join(f"%{ord(c):02x}" if mask >> i & 1 else c for i, c in enumerate(name))


def _entries() -> int:
    with redis.Redis.from_url(REDIS_URL) as store:
        return len(list(store.scan_iter("cache:entry:*")))


def test_a_flood_of_spellings_makes_a_bounded_number_of_entries(app, make, admin_headers):
    book = make.book(title="Before", category="poetry")
    client = create_app({"CACHE_MAX_ENTRIES": 5}).test_client()
    spellings = [
        f"per_page={'0' * (mask % 4)}7&{spelt('category', mask)}=poetry"
        if mask % 2
        else f"{spelt('category', mask)}=poetry&per_page={'0' * (mask % 4)}7"
        for mask in range(200)
    ]
    assert len(set(spellings)) == 200
    for spelling in spellings:
        assert client.get(f"/v1/books?{spelling}").status_code == 200
    assert 1 <= _entries() <= 5
    # Read-after-write is still fresh, whichever spelling asks.
    resp = client.patch(f"/v1/books/{book.id}", json={"title": "After"}, headers=admin_headers)
    assert resp.status_code == 200
    caches = []
    for spelling in (spellings[0], spellings[150], spellings[199]):
        fresh = client.get(f"/v1/books?{spelling}")
        assert fresh.get_json()["data"][0]["title"] == "After"
        caches.append(fresh.headers["X-Cache"])
    assert caches == ["MISS", "HIT", "HIT"]


def test_a_flood_of_distinct_queries_is_bounded_too(app, make):
    make.book()
    client = create_app({"CACHE_MAX_ENTRIES": 5}).test_client()
    for n in range(40):
        assert client.get(f"/v1/books?q=word{n}").headers["X-Cache"] == "MISS"
    assert _entries() == 5
    assert client.get("/v1/books?q=word39").headers["X-Cache"] == "HIT"  # the newest stay


def test_an_entry_over_the_size_cap_is_not_stored(app, make):
    for n in range(30):
        make.book(title=f"A rather long title number {n}" * 3)
    client = create_app({"CACHE_MAX_ENTRY_BYTES": 1024}).test_client()
    for _ in range(2):
        assert client.get("/v1/books?per_page=30").headers["X-Cache"] == "MISS"
    assert _entries() == 0


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_write_through_the_api_invalidates_at_once(client, admin_headers, make, method):
    book = make.book(title="Old title", stock=1)
    path = f"/v1/books/{book.id}"
    client.get(path), client.get("/v1/books")
    assert client.get(path).headers["X-Cache"] == "HIT"
    if method == "delete":
        assert client.delete(path, headers=admin_headers).status_code == 204
        assert_error(client.get(path), 404, "RESOURCE_NOT_FOUND")
        assert client.get("/v1/books").get_json()["data"] == []
        return
    current = client.get(path).get_json()["data"]
    body = {k: current[k] for k in ("title", "isbn", "author_id", "category", "price")}
    body |= {"publication_year": current["publication_year"], "title": "New title"}
    write = getattr(client, method)(path, json=body, headers=admin_headers)
    assert write.status_code == 200
    fresh = client.get(path)
    assert fresh.headers["X-Cache"] == "MISS" and fresh.get_json()["data"]["title"] == "New title"
    assert client.get("/v1/books").get_json()["data"][0]["title"] == "New title"


def test_writes_to_authors_invalidate_their_book_lists(client, admin_headers, make):
    author = make.author(name="Before")
    make.book(author_id=author.id)
    path = f"/v1/books?include=author&author_id={author.id}"
    client.get(path)
    assert client.get(path).headers["X-Cache"] == "HIT"
    client.patch(f"/v1/authors/{author.id}", json={"name": "After"}, headers=admin_headers)
    assert client.get(path).get_json()["data"][0]["author"]["name"] == "After"


def test_writes_outside_views_invalidate_too(client, app_ctx, make):
    book = make.book(stock=5)
    client.get("/v1/books")
    assert client.get("/v1/books").headers["X-Cache"] == "HIT"
    make.book()  # an ORM commit anywhere (a service, the CLI)
    assert len(client.get("/v1/books").get_json()["data"]) == 2
    client.get(f"/v1/books/{book.id}")
    db.session.execute(update(Book).where(Book.id == book.id).values(stock=Book.stock - 1))
    db.session.commit()  # a bulk UPDATE through the session, as stock reservations do
    assert client.get(f"/v1/books/{book.id}").get_json()["data"]["stock"] == 4


def test_orders_reserving_and_returning_stock_invalidate(client, make):
    book = make.book(stock=5)
    path = f"/v1/books/{book.id}"
    client.get(path)
    assert client.get(path).headers["X-Cache"] == "HIT"
    customer = caller(make)
    order = place_ok(client, customer, (book.id, 2))
    assert client.get(path).get_json()["data"]["stock"] == 3
    cancel = client.post(f"/v1/orders/{order['id']}/cancel", headers=customer.with_key())
    assert cancel.status_code == 200, cancel.get_data(as_text=True)
    assert client.get(path).get_json()["data"]["stock"] == 5


def test_a_write_that_fails_does_not_invalidate(client, admin_headers, make):
    book = make.book()
    client.get(f"/v1/books/{book.id}")
    resp = client.patch(
        f"/v1/books/{book.id}", json={"stock": 1}, headers={**admin_headers, "If-Match": '"x"'}
    )
    assert_error(resp, 412, "PRECONDITION_FAILED")
    assert client.get(f"/v1/books/{book.id}").headers["X-Cache"] == "HIT"


def test_errors_are_never_cached(client):
    for _ in range(2):
        resp = client.get("/v1/books/999999")
        assert_error(resp, 404, "RESOURCE_NOT_FOUND")
        assert resp.headers["X-Cache"] == "MISS"
        resp = client.get("/v1/books?per_page=500")
        assert_error(resp, 400, "INVALID_QUERY_PARAMETER")
        assert "X-Cache" not in resp.headers  # refused by the schema: not even looked up


def test_catalog_reads_are_shared_whoever_asks(client, auth_headers, make):
    book = make.book()
    anonymous = client.get(f"/v1/books/{book.id}")
    customer = client.get(f"/v1/books/{book.id}", headers=auth_headers)
    assert customer.headers["X-Cache"] == "HIT" and strip_meta(customer) == strip_meta(anonymous)


def test_only_catalog_reads_are_cached(client):
    for path in ("/v1", "/health/live", "/openapi.json"):
        assert "X-Cache" not in client.get(path).headers, path


@pytest.mark.parametrize(
    ("cache_control", "stored"),
    [
        ("public, max-age=60", True),
        ("private, no-store", False),
        ("public, no-store", False),
        ("max-age=60", False),
    ],
)
def test_only_responses_marked_public_are_stored(app, make, cache_control, stored):
    path = f"/v1/books/{make.book().id}"
    store = app.extensions["bookstore_cache"]
    with app.test_request_context(path):
        generation, _ = store.get(cache_keys.cache_key())
        request.environ["bookstore.redis.cache"] = (path, generation, None)
        body = b'{"data":{},"meta":{"request_id":"' + request_id().encode() + b'"}}'
        response = Response(body, headers={"Cache-Control": cache_control, "ETag": '"e"'})
        cache._store(store, app.config["CACHE_MAX_ENTRY_BYTES"], 5, response)
        assert response.headers["X-Cache"] == "MISS"
        assert (store.get(path)[1] is not None) is stored


def test_without_redis_the_cache_is_in_process_with_the_same_semantics(app, make, admin_headers):
    local = create_app({"REDIS_URL": None, "CACHE_MAX_ENTRIES": 2, "CACHE_TTL": 1})
    client = local.test_client()
    books = [make.book(title=f"T{n}") for n in range(3)]
    for book in books:
        client.get(f"/v1/books/{book.id}")
    assert client.get(f"/v1/books/{books[2].id}").headers["X-Cache"] == "HIT"
    assert client.get(f"/v1/books/{books[0].id}").headers["X-Cache"] == "MISS"  # evicted (LRU)
    with local.app_context():
        db.session.execute(update(Book).where(Book.id == books[2].id).values(title="Changed"))
        db.session.commit()
        db.session.remove()
    fresh = client.get(f"/v1/books/{books[2].id}")
    assert fresh.headers["X-Cache"] == "MISS" and fresh.get_json()["data"]["title"] == "Changed"
    assert client.get(f"/v1/books/{books[2].id}").headers["X-Cache"] == "HIT"
    time.sleep(1.1)
    assert client.get(f"/v1/books/{books[2].id}").headers["X-Cache"] == "MISS"  # TTL


def test_cache_can_be_switched_off(app, make):
    book = make.book()
    client = create_app({"CACHE_ENABLED": False}).test_client()
    for _ in range(2):
        assert "X-Cache" not in client.get(f"/v1/books/{book.id}").headers


def test_cache_clear_command_invalidates(app, client, make):
    book = make.book()
    client.get(f"/v1/books/{book.id}")
    result = app.test_cli_runner().invoke(args=["cache-clear"])
    assert result.exit_code == 0 and "invalidated" in result.output
    assert client.get(f"/v1/books/{book.id}").headers["X-Cache"] == "MISS"


def _count_query_loads(app, monkeypatch, endpoint: str) -> list[dict]:
    from bookstore.openapi.decorators import view_doc

    loader = view_doc(app.view_functions[endpoint])["query"]
    calls: list[dict] = []
    load = loader.load

    def counted(data, **kwargs):
        calls.append(dict(data))
        return load(data, **kwargs)

    monkeypatch.setattr(loader, "load", counted)
    return calls


def test_a_missed_list_loads_its_query_string_once_for_key_and_view(app, client, make, monkeypatch):
    for _ in range(3):
        make.book()
    calls = _count_query_loads(app, monkeypatch, "books.list_books")
    miss = client.get("/v1/books?per_page=2&sort=-title")
    assert miss.headers["X-Cache"] == "MISS" and len(miss.get_json()["data"]) == 2
    assert calls == [{"per_page": "2", "sort": "-title"}]
    hit = client.get("/v1/books?sort=-title&per_page=2")
    assert hit.headers["X-Cache"] == "HIT" and len(calls) == 2


def test_a_refused_query_string_is_loaded_once_and_answered_400(app, client, monkeypatch):
    calls = _count_query_loads(app, monkeypatch, "books.list_books")
    resp = client.get("/v1/books?per_page=0")
    assert_error(resp, 400, "INVALID_QUERY_PARAMETER")
    assert "per_page" in str(resp.get_json()["error"]["details"]) and len(calls) == 1
