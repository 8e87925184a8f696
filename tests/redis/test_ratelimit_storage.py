"""Redis commands (MONITOR on a private redis-server) and round trips per request."""

from __future__ import annotations

import threading

import pytest

from bookstore import create_app
from bookstore.extensions import redis_client
from bookstore.redis.client import Batch


class Monitor:
    """Every command a client sends (not those a script runs), until ``stop()``."""

    def __init__(self, server) -> None:
        self.server = server
        self.commands: list[str] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Monitor:
        self._stopper = self.server.client()
        self._stopper.ping()  # connect (and handshake) now, not inside the count
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def _run(self) -> None:
        with self.server.client() as client, client.monitor() as monitor:
            self._ready.set()
            for entry in monitor.listen():
                command = entry["command"]
                if command.startswith("ECHO monitor-stop"):
                    return
                if entry.get("client_type") != "lua":
                    self.commands.append(command.split(" ", 1)[0].upper())

    def __exit__(self, *exc: object) -> None:
        self._stopper.echo("monitor-stop")
        self._stopper.close()
        self._thread.join(5)


@pytest.fixture
def private_app(app, redis_server):
    return create_app({"REDIS_URL": redis_server.url})


@pytest.fixture
def trips(monkeypatch):
    """Round trips: a batch (one write, one read on the thread's connection) or a plain
    client command (a connection checked out of the app's pool)."""

    class Trips:
        def __init__(self, app) -> None:
            self.count = 0
            pool = redis_client.get(app).connection_pool
            checkout, execute = pool.get_connection, Batch.execute

            def counting_checkout(*args, **kwargs):
                self.count += 1
                return checkout(*args, **kwargs)

            def counting_execute(batch):
                self.count += 1
                return execute(batch)

            monkeypatch.setattr(pool, "get_connection", counting_checkout)
            monkeypatch.setattr(Batch, "execute", counting_execute)

        def during(self, server, call):
            self.count = 0
            with Monitor(server) as monitor:
                resp = call()
            return resp, monitor.commands, self.count

    return Trips


def test_a_request_costs_one_round_trip_for_the_limit(private_app, redis_server, trips):
    client = private_app.test_client()
    client.get("/v1")  # the first call loads the script (EVALSHA, NOSCRIPT, SCRIPT LOAD)
    resp, commands, count = trips(private_app).during(redis_server, lambda: client.get("/v1"))
    assert resp.status_code == 200 and resp.headers["X-RateLimit-Remaining"] == "298"
    assert commands == ["EVALSHA"] and count == 1


def test_the_cache_rides_in_the_limits_round_trip_hit_or_miss(
    private_app, redis_server, make, trips
):
    path = f"/v1/books/{make.book().id}"
    client = private_app.test_client()
    client.get("/v1")
    counter = trips(private_app)
    resp, commands, count = counter.during(redis_server, lambda: client.get(path))
    assert resp.headers["X-Cache"] == "MISS"
    assert commands == ["EVALSHA", "MGET"] and count == 1
    # The miss's entry is stored by the next round trip, ahead of that request's lookup.
    resp, commands, count = counter.during(redis_server, lambda: client.get(path))
    assert resp.headers["X-Cache"] == "HIT" and resp.headers["X-RateLimit-Limit"] == "300"
    assert commands == ["SET", "EVALSHA", "MGET"] and count == 1
    resp, commands, count = counter.during(redis_server, lambda: client.get(path))
    assert resp.headers["X-Cache"] == "HIT" and commands == ["EVALSHA", "MGET"] and count == 1


def test_without_the_limiter_the_lookup_is_one_round_trip_of_its_own(app, redis_server, make):
    path = f"/v1/books/{make.book().id}"
    unlimited = create_app({"REDIS_URL": redis_server.url, "RATELIMIT_ENABLED": False})
    client = unlimited.test_client()
    client.get(path)
    with Monitor(redis_server) as monitor:
        assert client.get(path).headers["X-Cache"] == "HIT"
    assert monitor.commands == ["SET", "MGET"]


def test_a_restarted_redis_reloads_the_script_inside_the_pipeline(
    private_app, redis_server, make, trips
):
    path = f"/v1/books/{make.book().id}"
    client = private_app.test_client()
    client.get(path), client.get(path)
    with redis_server.client() as admin:
        admin.script_flush()
    resp, commands, _ = trips(private_app).during(redis_server, lambda: client.get(path))
    assert resp.status_code == 200 and resp.headers["X-Cache"] == "HIT"
    assert commands == ["EVALSHA", "MGET", "SCRIPT", "EVALSHA", "MGET"]


def test_a_429_costs_one_round_trip_too(app, redis_server, trips):
    limited = create_app({"REDIS_URL": redis_server.url, "RATELIMIT_DEFAULT": "1/minute"})
    client = limited.test_client()
    client.get("/v1")
    resp, commands, count = trips(limited).during(redis_server, lambda: client.get("/v1"))
    assert resp.status_code == 429 and resp.headers["Retry-After"]
    assert commands == ["EVALSHA"] and count == 1


def test_login_costs_one_round_trip_per_limit(app, redis_server, trips):
    from tests.redis.test_ratelimit import with_login

    login_app = with_login(create_app({"REDIS_URL": redis_server.url}))
    client = login_app.test_client()
    client.get("/v1")
    body = {"email": "a@example.com", "password": "x"}
    resp, commands, count = trips(login_app).during(
        redis_server, lambda: client.post("/v1/auth/login", json=body)
    )
    assert resp.status_code == 401
    assert commands == ["EVALSHA", "EVALSHA"] and count == 2  # per IP, per account


# -- the moving window's expired hits ---------------------------------------------------


def _window_after_a_quiet_spell(private_app, redis_server, stale: int, fresh: int):
    """A client's window holding ``stale`` hits older than the window, then ``fresh``
    recent ones; one more hit is made. Returns (acquired, count, the list, RPOPs run)."""
    import time

    storage = private_app.extensions["bookstore_limiter"].storage
    key = storage.prefixed_key("quiet-client")
    now = time.time()
    with redis_server.client() as admin:
        # Newest first, as the script pushes them: the stale ones sit at the tail.
        stamps = [now - 70 - i * 0.001 for i in range(stale)]
        stamps = [now - 5 + i * 0.001 for i in range(fresh)][::-1] + stamps
        if stamps:
            admin.rpush(key, *(repr(stamp) for stamp in stamps))
        admin.config_resetstat()
        with private_app.test_request_context():
            acquired, (_, count) = storage.acquire_with_window("quiet-client", 1000, 60)
        rpops = admin.info("commandstats").get("cmdstat_rpop", {}).get("calls", 0)
        window = [float(stamp) for stamp in admin.lrange(key, 0, -1)]
    return acquired, count, window, rpops, now


@pytest.mark.parametrize(("stale", "fresh"), [(5000, 3), (5000, 0), (3, 4), (0, 2)])
def test_expired_hits_leave_the_window_however_many_they_are(
    private_app, redis_server, stale, fresh
):
    acquired, count, window, rpops, now = _window_after_a_quiet_spell(
        private_app, redis_server, stale, fresh
    )
    assert acquired and count == fresh + 1 == len(window)
    assert all(stamp > now - 60 for stamp in window)
    # A burst that left the window is trimmed at once, not popped hit by hit while Redis
    # keeps every other client waiting.
    assert rpops <= 8
