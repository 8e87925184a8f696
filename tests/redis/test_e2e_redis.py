"""Shared limits and cache across real gunicorn instances, and a real Redis outage."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pair(app):
    """Two instances of two workers each, sharing PostgreSQL and Redis."""
    servers = [LiveServer(env={"RATELIMIT_DEFAULT": "30/minute"}, workers=2) for _ in range(2)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_the_limit_is_global_across_workers_and_instances(pair):
    urls = [pair[n % 2].url + "/v1" for n in range(48)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda url: requests.get(url, timeout=10), urls))
    statuses = [resp.status_code for resp in responses]
    assert statuses.count(200) == 30 and statuses.count(429) == 18, statuses
    assert {resp.headers["X-RateLimit-Limit"] for resp in responses} == {"30"}
    refused = [resp for resp in responses if resp.status_code == 429]
    assert all(resp.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED" for resp in refused)
    assert all(1 <= int(resp.headers["Retry-After"]) <= 60 for resp in refused)
    assert {resp.url.split("/v1")[0] for resp in refused} == {pair[0].url, pair[1].url}


def test_a_read_after_a_write_on_another_instance_is_fresh(pair, make, admin_headers):
    writer, reader = pair
    book = make.book(stock=0)
    path = f"/v1/books/{book.id}"

    def read(url: str) -> requests.Response:
        # As an admin only to stay clear of the small anonymous limit of this module.
        return requests.get(reader.url + url, headers=admin_headers, timeout=5)

    def cached(url: str) -> bool:
        # A miss is stored by its worker's next round trip: a few reads warm both workers.
        return any(read(url).headers["X-Cache"] == "HIT" for _ in range(12))

    for stock in range(1, 9):
        assert cached(path) and cached("/v1/books")
        # Not stock alone: a title change is catalog-wide, lists are fresh at once too.
        body = {"stock": stock, "title": f"Edition {stock}"}
        resp = requests.patch(writer.url + path, json=body, headers=admin_headers, timeout=5)
        assert resp.status_code == 200, resp.text
        assert read(path).json()["data"]["stock"] == stock
        listed = read("/v1/books").json()["data"][0]
        assert (listed["stock"], listed["title"]) == (stock, f"Edition {stock}")


def test_without_redis_the_workers_of_one_instance_never_serve_stale_reads(
    app, make, admin_headers
):
    server = LiveServer(env={"REDIS_URL": ""}, workers=2).start()
    try:
        book = make.book(stock=0)
        url = f"{server.url}/v1/books/{book.id}"
        for stock in range(1, 6):
            # New connections: reads land on both workers and each caches its own copy.
            seen = [requests.get(url, timeout=5).headers["X-Cache"] for _ in range(6)]
            assert "HIT" in seen
            resp = requests.patch(url, json={"stock": stock}, headers=admin_headers, timeout=5)
            assert resp.status_code == 200, resp.text
            for _ in range(6):
                assert requests.get(url, timeout=5).json()["data"]["stock"] == stock
    finally:
        server.stop()
    assert "kept per process" in server.log.read_text()


def wait_for(predicate, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_redis_outage_degrades_without_errors_and_recovers_by_itself(
    redis_server, make, admin_headers
):
    server = LiveServer(
        env={
            "REDIS_URL": redis_server.url,
            "REDIS_RETRY_INTERVAL": "0.2",
            "RATELIMIT_DEFAULT": "20/minute",
        },
        workers=2,
    ).start()
    try:
        book = make.book(stock=1)
        path = f"{server.url}/v1/books/{book.id}"
        assert requests.get(server.url + "/health/ready", timeout=5).status_code == 200
        requests.get(path, timeout=5)

        redis_server.stop()
        for _ in range(4):
            for url in (path, server.url + "/v1/books", server.url + "/v1"):
                resp = requests.get(url, timeout=5)
                assert resp.status_code == 200, resp.text
                assert resp.headers["X-RateLimit-Limit"] == "20"  # per-process counters
        resp = requests.patch(path, json={"stock": 7}, headers=admin_headers, timeout=5)
        assert resp.status_code == 200, resp.text
        assert requests.get(path, timeout=5).json()["data"]["stock"] == 7
        ready = requests.get(server.url + "/health/ready", timeout=5)
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert checks["redis"]["status"] == "down" and checks["database"]["status"] == "up"
        assert "Redis unreachable" in server.log.read_text()

        redis_server.start()
        wait_for(lambda: requests.get(server.url + "/health/ready", timeout=5).status_code == 200)
        time.sleep(0.3)  # every worker's retry interval has passed
        statuses = [requests.get(server.url + "/v1", timeout=5).status_code for _ in range(26)]
        assert statuses.count(200) == 20 and statuses.count(429) == 6, statuses
        assert "Redis reachable again" in server.log.read_text()
    finally:
        server.stop()
    served = [
        json.loads(line) for line in server.log.read_text().splitlines() if '"status"' in line
    ]
    errors = [e for e in served if e["status"] >= 500 and e["path"] != "/health/ready"]
    assert len(served) > 40 and errors == []
