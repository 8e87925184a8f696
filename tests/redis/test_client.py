"""The Redis link: one client per app, one warning per outage, no waiting while down."""

from __future__ import annotations

import logging
import os
import threading
import time

import pytest
import redis

from bookstore import create_app
from bookstore.redis.client import (
    UNAVAILABLE,
    RedisLink,
    eviction_policy_warning,
    get_client,
    get_link,
)


def test_an_outage_is_logged_once_skipped_meanwhile_and_recovered(redis_server, caplog):
    link = RedisLink(redis_server.app_client(), retry_interval=0.3)
    recovered = []
    link.on_recover.append(lambda: recovered.append(True))
    assert link.run("a test", lambda client: client.ping()) is True
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="bookstore.redis"):
        assert link.run("a test", lambda client: client.ping()) is None
        for _ in range(3):
            try:
                link.client.ping()
            except UNAVAILABLE as exc:
                link.failed(exc, "a test")
        assert not link.up and not link.should_try()  # callers skip Redis for a while
        calls = []
        assert link.run("a test", calls.append) is None and calls == []  # not even tried
        redis_server.start()
        time.sleep(0.35)
        assert link.should_try() and not link.should_try()  # one caller probes
        link.client.ping()
        link.succeeded()
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if m.startswith("Redis unreachable")]) == 1
    assert any(m.startswith("Redis reachable again") for m in messages)
    assert link.up and recovered == [True]


def client_id(client: redis.Redis) -> int:
    return client.client_id()


def thread_client_id(link: RedisLink) -> int | None:
    ids: list[int | None] = []
    thread = threading.Thread(target=lambda: ids.append(link.run("a test", client_id)))
    thread.start()
    thread.join()
    return ids[0]


def connected_clients(redis_server) -> int:
    return int(redis_server.client().info("clients")["connected_clients"])


def test_each_thread_keeps_one_connection_of_its_own(redis_server):
    link = RedisLink(redis_server.app_client(), retry_interval=0.3)
    mine = link.run("a test", client_id)
    assert mine is not None and link.run("a test", client_id) == mine  # no new connection
    other = thread_client_id(link)
    assert other is not None and other != mine
    before = connected_clients(redis_server)
    link.close()
    assert connected_clients(redis_server) <= before - 1  # this thread's socket is closed
    assert link.run("a test", client_id) not in (None, mine)  # a new one after close


def test_a_thread_connection_survives_a_restart_and_an_outage_at_first_use(redis_server):
    link = RedisLink(redis_server.app_client(), retry_interval=0.05)
    assert link.run("a test", client_id) is not None
    redis_server.stop()
    assert link.run("a test", client_id) is None and not link.up
    time.sleep(0.1)  # past the retry interval: the next call tries again
    assert thread_client_id(link) is None  # a new thread's first call fails cleanly too
    redis_server.start()
    time.sleep(0.1)
    assert link.run("a test", client_id) is not None and link.up  # reconnected
    assert thread_client_id(link) is not None


def test_a_forked_child_never_shares_the_parents_connection(redis_server):
    link = RedisLink(redis_server.app_client(), retry_interval=0.3)
    parent = link.run("a test", client_id)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports its connection's id and leaves at once
        os.close(read_end)
        os.write(write_end, str(link.run("a test", client_id)).encode())
        os._exit(0)
    os.close(write_end)
    child = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert child not in ("", "None", str(parent))
    assert link.run("a test", client_id) == parent  # the parent's socket still answers it


def test_readiness_reports_redis(redis_server):
    client = create_app({"REDIS_URL": redis_server.url}).test_client()
    checks = client.get("/health/ready").get_json()["checks"]
    assert checks["redis"]["status"] == "up" and checks["redis"]["latency_ms"] >= 0
    redis_server.stop()
    resp = client.get("/health/ready")
    assert resp.status_code == 503
    assert resp.get_json()["checks"]["redis"] == {"status": "down", "error": "ConnectionError"}


def test_one_client_per_app_with_short_timeouts(app):
    unreachable = create_app({"REDIS_URL": "redis://127.0.0.1:1/0"})
    client = get_client(unreachable)
    assert client is get_link(unreachable).client and client is get_client(unreachable)
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_connect_timeout"] == kwargs["socket_timeout"] == 0.5
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    assert time.monotonic() - started < 1
    assert get_link(create_app({"REDIS_URL": None})) is None


@pytest.mark.parametrize(
    ("policy", "warned"),
    [("allkeys-lru", True), ("volatile-lru", True), ("noeviction", False)],
)
def test_readiness_warns_once_about_an_evicting_redis(redis_server, caplog, policy, warned):
    with redis_server.client() as admin:
        admin.config_set("maxmemory-policy", policy)
    client = create_app({"REDIS_URL": redis_server.url}).test_client()
    with caplog.at_level(logging.WARNING, logger="bookstore.redis"):
        for _ in range(3):
            assert client.get("/health/ready").status_code == 200
    found = [r for r in caplog.records if "maxmemory-policy" in r.getMessage()]
    assert len(found) == (1 if warned else 0)
    if warned:
        assert policy in found[0].getMessage() and "noeviction" in found[0].getMessage()


def test_only_noeviction_passes_the_eviction_check():
    assert eviction_policy_warning("noeviction") is None
    for policy in ("allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-ttl"):
        assert policy in eviction_policy_warning(policy)
