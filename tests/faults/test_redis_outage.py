"""Redis stopped and restarted under load: no request fails, readiness tells, limits return.

A private redis-server (tests/redis_server.py) is stopped while four clients read and
write through a two-worker gunicorn. Every request keeps succeeding (limits and cache
fall back to each process, token checks to the database); ``/health/ready`` says 503
with Redis down; once Redis is back, the workers find it again by themselves and the
rate limit is one shared count again. tests/redis/test_e2e_redis.py does the same without load.
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from bookstore.auth import create_access_token
from tests.conftest import LiveServer
from tests.faults.load import Load, Outcome, wait_until
from tests.ordering import order_body

pytestmark = pytest.mark.e2e

ADMIN_LIMIT = 40
PHASE_REQUESTS = 40  # answered requests, of every kind, before each step of the outage
KINDS = {"order", "me", "read"}


def every_kind(outcomes: list[Outcome]) -> bool:
    return len(outcomes) >= PHASE_REQUESTS and {o.label for o in outcomes} == KINDS


def test_redis_outage_under_load(redis_server, make):
    book = make.book(stock=100_000)
    customer = make.user()
    admin = make.user(role="admin")
    customer_auth = {"Authorization": f"Bearer {create_access_token(customer.id, 'customer')}"}
    admin_auth = {"Authorization": f"Bearer {create_access_token(admin.id, 'admin')}"}
    server = LiveServer(
        env={
            "REDIS_URL": redis_server.url,
            "REDIS_RETRY_INTERVAL": "0.2",
            "RATELIMIT_DEFAULT": "100000/minute",
            "RATELIMIT_WRITE": "100000/minute",
            "RATELIMIT_ADMIN": f"{ADMIN_LIMIT}/minute",
            "ORDER_MAX_PENDING": "100000",  # one customer places every order
        },
        workers=2,
    ).start()
    urls = [f"/v1/books/{book.id}", "/v1/books?per_page=5", "/v1/books?q=Book", "/v1"]

    def traffic(n: int) -> tuple[str, requests.Response]:
        if n % 5 == 0:  # a write: an order, through the idempotency keys and the outbox
            headers = {**customer_auth, "Idempotency-Key": uuid.uuid4().hex}
            body = order_body((book.id, 1))
            return "order", requests.post(
                server.url + "/v1/orders", json=body, headers=headers, timeout=10
            )
        if n % 5 == 1:  # a token check, which reads revocations from Redis
            return "me", requests.get(
                server.url + "/v1/users/me", headers=customer_auth, timeout=10
            )
        return "read", requests.get(server.url + urls[n % len(urls)], timeout=10)

    def ready() -> requests.Response:
        return requests.get(server.url + "/health/ready", timeout=5)

    try:
        with Load(traffic) as load:
            wait_until(lambda: every_kind(load.outcomes), timeout=60)
            redis_server.stop()
            down = time.monotonic()
            wait_until(lambda: ready().status_code == 503)
            checks = ready().json()["checks"]
            assert checks["redis"]["status"] == "down" and checks["database"]["status"] == "up"
            wait_until(lambda: every_kind(load.between(down)), timeout=60)
            redis_server.start()
            up = time.monotonic()
            wait_until(lambda: ready().status_code == 200)
            back = time.monotonic()
            wait_until(lambda: every_kind(load.between(back)), timeout=60)
        outcomes = load.outcomes
        during = load.between(down, up)
        # Shared again: one count across both workers (each would allow 40 on its own).
        time.sleep(0.5)  # every worker's retry interval has passed
        statuses = [
            requests.get(server.url + "/v1", headers=admin_auth, timeout=5).status_code
            for _ in range(ADMIN_LIMIT + 10)
        ]
    finally:
        server.stop()
    failures = [o for o in outcomes if o.status not in (200, 201)]
    assert failures == [], failures[:10]
    assert len(during) > 20 and {o.label for o in during} == KINDS
    assert statuses == [200] * ADMIN_LIMIT + [429] * 10
    log = server.log.read_text()
    assert "Redis unreachable" in log and "Redis reachable again" in log
