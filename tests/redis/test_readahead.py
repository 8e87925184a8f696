"""The limiter's script call reads the cache's keys: a hit costs one round trip to Redis."""

from __future__ import annotations

import pytest

from bookstore import create_app
from tests.redis.monitor import Monitor


@pytest.fixture
def shared(app, redis_server):
    return create_app({"REDIS_URL": redis_server.url})


def warm(client, path: str) -> None:
    client.get(path)  # loads the scripts and stores the entry
    assert client.get(path).headers["X-Cache"] == "HIT"


@pytest.mark.parametrize("path", ["/v1/books/{id}", "/v1/books", "/v1/books?sort=-price"])
def test_a_hit_is_one_script_call_that_counts_and_reads(shared, redis_server, make, path):
    book = make.book()
    client = shared.test_client()
    path = path.format(id=book.id)
    warm(client, path)
    with Monitor(redis_server) as monitor:
        resp = client.get(path)
    assert resp.headers["X-Cache"] == "HIT" and resp.headers["X-RateLimit-Remaining"]
    assert monitor.commands == ["EVALSHA"]


def test_a_miss_is_the_counting_call_and_the_store(shared, redis_server, make):
    book = make.book()
    client = shared.test_client()
    client.get("/v1/books")  # loads both scripts
    with Monitor(redis_server) as monitor:
        resp = client.get(f"/v1/books/{book.id}")
    assert resp.headers["X-Cache"] == "MISS"
    assert monitor.commands == ["EVALSHA", "EVALSHA"]
    assert client.get(f"/v1/books/{book.id}").get_json()["data"] == resp.get_json()["data"]


def test_a_hit_after_a_write_elsewhere_is_a_miss(shared, redis_server, make, admin_headers):
    book = make.book(title="Before")
    client = shared.test_client()
    warm(client, f"/v1/books/{book.id}")
    other = create_app({"REDIS_URL": redis_server.url}).test_client()  # another instance
    changed = other.patch(f"/v1/books/{book.id}", json={"title": "After"}, headers=admin_headers)
    assert changed.status_code == 200
    resp = client.get(f"/v1/books/{book.id}")
    assert resp.headers["X-Cache"] == "MISS" and resp.get_json()["data"]["title"] == "After"


def test_a_refused_request_reads_nothing(app, redis_server, make):
    book = make.book()
    limited = create_app({"REDIS_URL": redis_server.url, "RATELIMIT_DEFAULT": "2/minute"})
    client = limited.test_client()
    warm(client, f"/v1/books/{book.id}")
    with Monitor(redis_server) as monitor:
        resp = client.get(f"/v1/books/{book.id}")
    assert resp.status_code == 429 and "X-Cache" not in resp.headers
    assert monitor.commands == ["EVALSHA"]


def test_without_the_limiter_the_cache_reads_on_its_own(app, redis_server, make):
    book = make.book()
    client = create_app({"REDIS_URL": redis_server.url, "RATELIMIT_ENABLED": False}).test_client()
    warm(client, f"/v1/books/{book.id}")
    with Monitor(redis_server) as monitor:
        resp = client.get(f"/v1/books/{book.id}")
    assert resp.headers["X-Cache"] == "HIT" and "X-RateLimit-Limit" not in resp.headers
    assert monitor.commands == ["MGET"]


def test_requests_the_cache_does_not_serve_read_nothing(shared, redis_server):
    client = shared.test_client()
    client.get("/v1")
    with Monitor(redis_server) as monitor:
        assert client.get("/v1").status_code == 200
        assert client.get("/v1/orders").status_code == 401
    assert monitor.commands == ["EVALSHA", "EVALSHA"]
