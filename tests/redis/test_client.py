"""The Redis link: one warning per outage, no waiting while down, recovery by itself."""

from __future__ import annotations

import logging
import time

import pytest
import redis

from bookstore import create_app
from bookstore.extensions import redis_client
from bookstore.redis.client import UNAVAILABLE, RedisLink, get_link


def test_an_outage_is_logged_once_skipped_meanwhile_and_recovered(redis_server, caplog):
    link = RedisLink(redis_server.app_client(), retry_interval=0.3)
    recovered = []
    link.on_recover.append(lambda: recovered.append(True))
    assert link.should_try() and link.client.ping()
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="bookstore.redis"):
        for _ in range(3):
            try:
                link.client.ping()
            except UNAVAILABLE as exc:
                link.failed(exc, "a test")
        assert not link.up and not link.should_try()  # callers skip Redis for a while
        redis_server.start()
        time.sleep(0.35)
        assert link.should_try() and not link.should_try()  # one caller probes
        link.client.ping()
        link.succeeded()
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if m.startswith("Redis unreachable")]) == 1
    assert any(m.startswith("Redis reachable again") for m in messages)
    assert link.up and recovered == [True]


def test_readiness_reports_redis(redis_server):
    client = create_app({"REDIS_URL": redis_server.url}).test_client()
    checks = client.get("/health/ready").get_json()["checks"]
    assert checks["redis"]["status"] == "up" and checks["redis"]["latency_ms"] >= 0
    redis_server.stop()
    resp = client.get("/health/ready")
    assert resp.status_code == 503
    assert resp.get_json()["checks"]["redis"] == {"status": "down", "error": "ConnectionError"}


def test_the_link_wraps_the_shared_client_with_short_timeouts(app):
    unreachable = create_app({"REDIS_URL": "redis://127.0.0.1:1/0"})
    client = get_link(unreachable).client
    assert client is redis_client.get(unreachable)  # one connection pool per process
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_connect_timeout"] == kwargs["socket_timeout"] == 0.5
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    assert time.monotonic() - started < 1
