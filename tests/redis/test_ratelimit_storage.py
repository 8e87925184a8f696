"""The moving window's storage: one script call per limit, and expired hits trimmed."""

from __future__ import annotations

import time

import pytest
from limits import parse

from bookstore import create_app
from bookstore.redis.client import RedisLink
from bookstore.redis.ratelimit_storage import Windows, storage_key
from tests.redis.monitor import Monitor


@pytest.fixture
def private_app(app, redis_server):
    return create_app({"REDIS_URL": redis_server.url})


def test_a_request_costs_one_script_call_for_the_limit(private_app, redis_server):
    client = private_app.test_client()
    client.get("/v1")  # the first call loads the script (EVALSHA, NOSCRIPT, SCRIPT LOAD)
    with Monitor(redis_server) as monitor:
        resp = client.get("/v1")
    assert resp.status_code == 200 and resp.headers["X-RateLimit-Remaining"] == "298"
    assert monitor.commands == ["EVALSHA"]


def test_a_429_costs_one_script_call_too(app, redis_server):
    client = create_app({"REDIS_URL": redis_server.url, "RATELIMIT_DEFAULT": "1/minute"})
    client = client.test_client()
    client.get("/v1")
    with Monitor(redis_server) as monitor:
        resp = client.get("/v1")
    assert resp.status_code == 429 and resp.headers["Retry-After"]
    assert monitor.commands == ["EVALSHA"]


def test_login_costs_one_script_call_per_limit(app, redis_server):
    from tests.redis.test_ratelimit import with_login

    client = with_login(create_app({"REDIS_URL": redis_server.url})).test_client()
    client.get("/v1")
    with Monitor(redis_server) as monitor:
        body = {"email": "a@example.com", "password": "x"}
        assert client.post("/v1/auth/login", json=body).status_code == 401
    assert monitor.commands == ["EVALSHA", "EVALSHA"]  # per IP, per account


def test_a_restarted_redis_gets_the_script_again(private_app, redis_server):
    client = private_app.test_client()
    client.get("/v1")
    with redis_server.client() as admin:
        admin.script_flush()
    with Monitor(redis_server) as monitor:
        resp = client.get("/v1")
    assert resp.status_code == 200 and resp.headers["X-RateLimit-Remaining"] == "298"
    assert monitor.commands == ["EVALSHA", "SCRIPT", "EVALSHA"]


def test_the_window_is_shared_and_falls_back_to_memory_while_redis_is_down(redis_server):
    link = RedisLink(redis_server.app_client(), retry_interval=60)
    first, second = Windows(link), Windows(link)  # two processes
    limit = parse("3/minute")
    assert [first.hit(limit, "read", "ip:a").remaining for _ in range(2)] == [2, 1]
    shared = second.hit(limit, "read", "ip:a")
    assert shared.acquired and shared.remaining == 0
    assert not first.hit(limit, "read", "ip:a").acquired
    redis_server.stop()
    local = first.hit(limit, "read", "ip:a")  # counted by this process alone now
    assert local.acquired and local.remaining == 2 and not link.up


# -- the moving window's expired hits ---------------------------------------------------


def _window_after_a_quiet_spell(redis_server, stale: int, fresh: int):
    """A client's window holding ``stale`` hits older than the window, then ``fresh``
    recent ones; one more hit is made. Returns (window, the list, RPOPs run, now)."""
    windows = Windows(RedisLink(redis_server.app_client(), retry_interval=1))
    limit = parse("1000/minute")
    key = storage_key(limit, "read", "quiet-client")
    now = time.time()
    with redis_server.client() as admin:
        # Newest first, as the script pushes them: the stale ones sit at the tail.
        stamps = [now - 70 - i * 0.001 for i in range(stale)]
        stamps = [now - 5 + i * 0.001 for i in range(fresh)][::-1] + stamps
        if stamps:
            admin.rpush(key, *(repr(stamp) for stamp in stamps))
        admin.config_resetstat()
        window = windows.hit(limit, "read", "quiet-client")
        rpops = admin.info("commandstats").get("cmdstat_rpop", {}).get("calls", 0)
        kept = [float(stamp) for stamp in admin.lrange(key, 0, -1)]
    return window, kept, rpops, now


@pytest.mark.parametrize(("stale", "fresh"), [(5000, 3), (5000, 0), (3, 4), (0, 2)])
def test_expired_hits_leave_the_window_however_many_they_are(redis_server, stale, fresh):
    window, kept, rpops, now = _window_after_a_quiet_spell(redis_server, stale, fresh)
    assert window.acquired and 1000 - window.remaining == fresh + 1 == len(kept)
    assert all(stamp > now - 60 for stamp in kept)
    # A burst that left the window is trimmed at once, not popped hit by hit while Redis
    # keeps every other client waiting.
    assert rpops <= 8
