"""Redis round trips per request, counted with MONITOR on a private redis-server."""

from __future__ import annotations

import threading

import pytest

from bookstore import create_app


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


def round_trips(server, client, path: str, **kwargs) -> tuple[int, list[str]]:
    with Monitor(server) as monitor:
        resp = client.get(path, **kwargs)
    return resp, monitor.commands


def test_a_request_costs_one_round_trip_for_the_limit(private_app, redis_server):
    client = private_app.test_client()
    client.get("/v1")  # the first call loads the script (EVALSHA, NOSCRIPT, SCRIPT LOAD)
    resp, commands = round_trips(redis_server, client, "/v1")
    assert resp.status_code == 200 and resp.headers["X-RateLimit-Remaining"] == "298"
    assert commands == ["EVALSHA"]


def test_a_cache_hit_costs_one_more_and_a_miss_one_more_to_store(private_app, redis_server, make):
    book = make.book()
    client = private_app.test_client()
    client.get("/v1")
    resp, commands = round_trips(redis_server, client, f"/v1/books/{book.id}")
    assert resp.headers["X-Cache"] == "MISS"
    assert commands == ["EVALSHA", "MGET", "SET"]
    resp, commands = round_trips(redis_server, client, f"/v1/books/{book.id}")
    assert resp.headers["X-Cache"] == "HIT" and resp.headers["X-RateLimit-Limit"] == "300"
    assert commands == ["EVALSHA", "MGET"]


def test_a_429_costs_one_round_trip_too(app, redis_server):
    client = create_app({"REDIS_URL": redis_server.url, "RATELIMIT_DEFAULT": "1/minute"})
    client = client.test_client()
    client.get("/v1")
    resp, commands = round_trips(redis_server, client, "/v1")
    assert resp.status_code == 429 and resp.headers["Retry-After"]
    assert commands == ["EVALSHA"]


def test_login_costs_one_round_trip_per_limit(app, redis_server):
    from tests.test_ratelimit import with_login

    client = with_login(create_app({"REDIS_URL": redis_server.url})).test_client()
    client.get("/v1")
    with Monitor(redis_server) as monitor:
        client.post("/v1/auth/login", json={"email": "a@example.com", "password": "x"})
    assert monitor.commands == ["EVALSHA", "EVALSHA"]  # per IP, per account
