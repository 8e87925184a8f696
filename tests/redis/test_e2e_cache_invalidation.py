"""Invalidation by what changed, across the two workers of a real gunicorn on Redis."""

from __future__ import annotations

import pytest
import redis
import requests

from bookstore.redis.cache_stores import entry_key
from tests.conftest import REDIS_URL, LiveServer
from tests.ordering import caller, order_body

pytestmark = pytest.mark.e2e


def live(**env: str) -> LiveServer:
    return LiveServer(env={"RATELIMIT_ENABLED": "false", **env}, workers=2)


@pytest.fixture(scope="module")
def server(app):
    # A list bound far longer than the test: a HIT on a list is never down to timing.
    started = live(CACHE_LIST_STOCK_MAX_AGE="60").start()
    try:
        yield started
    finally:
        started.stop()


def get(server: LiveServer, path: str) -> requests.Response:
    return requests.get(server.url + path, timeout=5)  # a new connection: either worker


def cached(server: LiveServer, path: str) -> bool:
    # A miss is stored by its worker's next round trip: a few reads warm both workers.
    return any(get(server, path).headers["X-Cache"] == "HIT" for _ in range(12))


def test_an_order_keeps_other_entries_and_its_item_is_exact_on_every_worker(server, make):
    ordered, other = make.book(stock=20), make.book(stock=20)
    item, customer = f"/v1/books/{ordered.id}", caller(make)
    for trial in range(1, 5):
        assert cached(server, item) and cached(server, f"/v1/books/{other.id}")
        assert cached(server, "/v1/books")
        resp = requests.post(
            server.url + "/v1/orders",
            json=order_body((ordered.id, 1)),
            headers=customer.with_key(),
            timeout=5,
        )
        assert resp.status_code == 201, resp.text
        reads = [get(server, item) for _ in range(6)]
        assert reads[0].headers["X-Cache"] == "MISS"
        assert {read.json()["data"]["stock"] for read in reads} == {20 - trial}
        assert get(server, f"/v1/books/{other.id}").headers["X-Cache"] == "HIT"
        assert get(server, "/v1/books").headers["X-Cache"] == "HIT"


def test_a_title_change_shows_at_once_in_lists_and_search(server, make, admin_headers):
    book = make.book(title="Title 0")
    paths = ("/v1/books", "/v1/books?q=title", f"/v1/authors/{book.author_id}/books")
    for trial in range(1, 4):
        assert all(cached(server, path) for path in paths)
        resp = requests.patch(
            f"{server.url}/v1/books/{book.id}",
            json={"title": f"Title {trial}"},
            headers=admin_headers,
            timeout=5,
        )
        assert resp.status_code == 200, resp.text
        for path in paths:
            for _ in range(4):
                titles = [row["title"] for row in get(server, path).json()["data"]]
                assert titles == [f"Title {trial}"], path


def entry_ttl(server: LiveServer, shared: redis.Redis, path: str) -> int:
    """The TTL Redis gives this path's entry just after a read stored or served it."""
    for _ in range(20):
        get(server, path)
        ttl = shared.ttl(entry_key(path))
        if ttl != -2:  # -2: already gone (a one-second entry may expire in between)
            return ttl
    raise AssertionError(f"{path} was never stored")


def test_a_list_entry_lives_at_most_the_stock_bound(make):
    server = live(CACHE_LIST_STOCK_MAX_AGE="1").start()
    try:
        book = make.book()
        assert get(server, "/v1/books").headers["Cache-Control"] == "public, max-age=1"
        with redis.Redis.from_url(REDIS_URL) as shared:
            for path in ("/v1/books", f"/v1/authors/{book.author_id}/books"):  # keyed on path
                assert 0 < entry_ttl(server, shared, path) <= 1, path
            assert entry_ttl(server, shared, f"/v1/books/{book.id}") > 1
    finally:
        server.stop()
