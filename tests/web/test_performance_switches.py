"""The performance switches (PERF_*): the API answers the same with each one on and off.

Two apps on the same database, one with the switch at its default and one with it off,
both with the limiter and the response cache off (so every body is built, and no header
counts requests); every request carries the same X-Request-ID, so the bodies can be
compared byte for byte. Each test also checks that the switch reached the code it names.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from flask import Flask
from marshmallow import Schema

from tests.conftest import IsolatedClient

RID = {"X-Request-ID": "perf-switch-parity"}
PLAIN = {"RATELIMIT_ENABLED": False, "CACHE_ENABLED": False}


@pytest.fixture
def catalog(make) -> dict[str, Any]:
    author = make.author(name="Ursula K. Le Guin")
    books = [
        make.book(author_id=author.id, category="fantasy", price=price, stock=stock)
        for price, stock in (("7.50", 3), ("12.00", 0), ("19.99", 8), ("4.25", 1))
    ]
    return {"author": author.id, "book": books[0].id, "other": books[2].id}


def _paths(catalog: dict[str, Any]) -> list[str]:
    book, author = catalog["book"], catalog["author"]
    return [
        "/",
        "/v1",
        f"/v1/books/{book}",
        f"/v1/books/{book}?fields=title,price",
        f"/v1/books/{book}?include=author",
        "/v1/books/999999",
        "/v1/books",
        "/v1/books?per_page=2",
        "/v1/books?category=fantasy&min_price=5&max_price=20&sort=-price&per_page=2",
        "/v1/books?category=fantasy&in_stock=true&fields=id,title",
        "/v1/books?min_price=abc",
        "/v1/books?min_price=20&max_price=5",
        "/v1/books?colour=blue",
        "/v1/books?per_page=0&sort=nope",
        f"/v1/authors/{author}",
        f"/v1/authors/{author}/books?per_page=1",
        "/v1/authors?per_page=1",
    ]


def _client(app: Flask):
    app.test_client_class = IsolatedClient
    return app.test_client()


def _answer(client, path: str, headers: dict[str, str] | None = None):
    response = client.get(path, headers={**RID, **(headers or {})})
    return response.status_code, sorted(response.headers.items()), response.get_data()


def _without_etag(answer):
    status, headers, body = answer
    return status, [(k, v) for k, v in headers if k != "ETag"], body


@contextmanager
def calls(pick: Callable[[Any, str, Any], Any]) -> Iterator[list[Any]]:
    """Record, for the calls in this thread, what ``pick(frame, event, arg)`` returns."""
    seen: list[Any] = []

    def profile(frame, event, arg):
        found = pick(frame, event, arg)
        if found is not None:
            seen.append(found)

    sys.setprofile(profile)
    try:
        yield seen
    finally:
        sys.setprofile(None)


def _cursor_pages(client) -> list[str]:
    """A keyset page and its neighbours, from the cursors an offset page carries."""
    pages = []
    path = "/v1/books?per_page=1&sort=price"
    for _ in range(2):
        pagination = client.get(path, headers=RID).get_json()["pagination"]
        path = f"/v1/books?per_page=1&sort=price&cursor={pagination['next_cursor']}"
        pages.append(path)
    return pages


def _parity(on: Flask, off: Flask, paths: list[str], *, etag_same: bool = True) -> None:
    a, b = _client(on), _client(off)
    for path in paths:
        first, second = _answer(a, path), _answer(b, path)
        if etag_same:
            assert first == second, path
        else:
            assert _without_etag(first) == _without_etag(second), path
        # A conditional GET with each app's own ETag: the same 304 either way.
        etag = dict(second[1]).get("ETag")
        if etag:
            again = _answer(b, path, {"If-None-Match": etag})
            assert again[0] == 304, path
            assert _without_etag(again) == _without_etag(
                _answer(a, path, {"If-None-Match": dict(first[1])["ETag"]})
            ), path


def test_orjson_envelope_off_answers_the_same(make_app, catalog):
    on, off = make_app(**PLAIN), make_app(**PLAIN, PERF_ORJSON_ENVELOPE=False)
    paths = _paths(catalog)
    paths += _cursor_pages(_client(on))
    _parity(on, off, paths)
    # Off, the envelope is encoded as one dict besides the ETag's input: one more dumps.
    counts = []
    for app in (on, off):
        client = _client(app)
        client.get(f"/v1/books/{catalog['book']}", headers=RID)  # warm: first-request work
        with calls(
            lambda frame, event, arg: event == "c_call" and arg is orjson.dumps or None
        ) as seen:
            client.get(f"/v1/books/{catalog['other']}", headers=RID)
        counts.append(len(seen))
    assert counts[1] == counts[0] + 1


def test_xxh3_etag_off_answers_the_same_with_blake2b_etags(make_app, catalog):
    on, off = make_app(**PLAIN), make_app(**PLAIN, PERF_XXH3_ETAG=False)
    _parity(on, off, _paths(catalog), etag_same=False)
    path = f"/v1/books/{catalog['book']}"
    data = orjson.dumps(_client(on).get(path).get_json()["data"])
    expected = '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"'
    on_etag, off_etag = (_client(app).get(path).headers["ETag"] for app in (on, off))
    assert off_etag == expected
    assert on_etag != off_etag and len(on_etag) == len(off_etag)


def test_xxh3_etag_off_checks_if_match_with_its_own_etags(make_app, catalog, admin_headers):
    off = make_app(**PLAIN, PERF_XXH3_ETAG=False)
    client, path = _client(off), f"/v1/books/{catalog['book']}"
    etag = client.get(path).headers["ETag"]
    stale = _client(make_app(**PLAIN)).get(path).headers["ETag"]
    patch = {"Content-Type": "application/merge-patch+json", **admin_headers}
    refused = client.patch(path, data=b'{"stock": 5}', headers={**patch, "If-Match": stale})
    assert refused.status_code == 412
    done = client.patch(path, data=b'{"stock": 5}', headers={**patch, "If-Match": etag})
    assert done.status_code == 200
    assert done.get_json()["data"]["stock"] == 5


def test_query_loaders_off_answers_the_same(make_app, catalog):
    on, off = make_app(**PLAIN), make_app(**PLAIN, PERF_QUERY_LOADERS=False)
    _parity(on, off, _paths(catalog))
    # On, the query is loaded by a copy of the schema limited to what it names; off, by
    # the whole schema.
    load = Schema.load.__code__

    def loader(frame, event, arg):
        if event == "call" and frame.f_code is load:
            return frame.f_locals["self"].only or "the whole schema"
        return None

    used = []
    for app in (on, off):
        with calls(loader) as seen:
            _client(app).get("/v1/books?year_from=1900&in_stock=false", headers=RID)
        used.append(seen)
    assert used[0] == [{"year_from", "in_stock", "per_page"}]
    assert used[1] == ["the whole schema"]
