"""Revocations hold when Redis loses its data: restarted empty, flushed, or evicting keys.

A private redis-server (tests/redis_server.py) holds the markers. A customer logs out,
another is deactivated; then Redis loses everything, and neither token may work again
(GET /v1/users/me and POST /v1/orders stay 401) while a token that was never revoked
keeps working. The lost epoch sends the checks to the database, which re-seeds Redis.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from bookstore.redis.revocation import COMPLETE, DATABASE, EPOCH_KEY, SEED_KEY, Markers, seed
from tests.conftest import IsolatedClient, LiveServer
from tests.faults.load import wait_until
from tests.ordering import order_body
from tests.sessions import PASSWORD, bearer, login, register


def _accounts(client: Any, make: Any) -> dict[str, dict[str, Any]]:
    """Three customers' sessions and an admin's, each checked once (Redis seeded)."""
    make.user(email="boss@example.com", password=PASSWORD, role="admin")
    people = {"admin": login(client, "boss@example.com")}
    for name in ("gone", "banned", "kept"):
        people[name] = login_new(client, f"{name}@example.com")
    for pair in people.values():
        assert client.get("/v1/users/me", headers=bearer(pair["access_token"])).status_code == 200
    return people


def login_new(client: Any, email: str) -> dict[str, Any]:
    user = register(client, email)
    return {**login(client, email), "id": user["id"]}


def _revoke(client: Any, people: dict[str, dict[str, Any]]) -> None:
    gone, banned = people["gone"], people["banned"]
    assert client.post("/v1/auth/logout", headers=bearer(gone["access_token"])).status_code == 204
    admin = bearer(people["admin"]["access_token"])
    response = client.patch(f"/v1/users/{banned['id']}", headers=admin, json={"active": False})
    assert response.status_code == 200


def _order(client: Any, book_id: int, token: str) -> Any:
    headers = {**bearer(token), "Idempotency-Key": uuid.uuid4().hex}
    return client.post("/v1/orders", json=order_body((book_id, 1)), headers=headers)


def _assert_outcomes(client: Any, book_id: int, people: dict[str, dict[str, Any]]) -> None:
    for name, status in (("gone", 401), ("banned", 401), ("kept", 200)):
        token = people[name]["access_token"]
        assert client.get("/v1/users/me", headers=bearer(token)).status_code == status, name
        assert _order(client, book_id, token).status_code == (201 if status == 200 else 401)
    for name in ("gone", "banned"):
        body = {"refresh_token": people[name]["refresh_token"]}
        assert client.post("/v1/auth/refresh", json=body).status_code == 401


@pytest.fixture
def private_app(make_app, redis_server):
    app = make_app(REDIS_URL=redis_server.url, RATELIMIT_ENABLED=False)
    app.test_client_class = IsolatedClient
    return app


def _restart_empty(server: Any) -> None:
    server.stop()
    server.start()


def _flushdb(server: Any) -> None:
    with server.client() as store:
        store.flushdb()


@pytest.mark.parametrize("lose", [_flushdb, _restart_empty], ids=["flushdb", "restart"])
def test_revocations_survive_lost_redis_data(private_app, redis_server, make, lose):
    client = private_app.test_client()
    book = make.book(stock=100)
    people = _accounts(client, make)
    _revoke(client, people)
    _assert_outcomes(client, book.id, people)
    lose(redis_server)
    _assert_outcomes(client, book.id, people)
    # Re-seeded from the database: complete again, with both revocations as markers.
    with redis_server.client() as store:
        assert store.get(EPOCH_KEY) == COMPLETE
        assert store.get(f"user:{people['banned']['id']}:ver") == b"1"
        # The logged-out session, and the deactivated user's (revoked with the account).
        assert len(store.keys("session:*:revoked")) == 2
        assert len(store.keys("revoked:*")) == 1
    _assert_outcomes(client, book.id, people)


def test_a_redis_that_may_evict_keys_sends_the_checks_to_the_database(
    private_app, redis_server, make
):
    client = private_app.test_client()
    book = make.book(stock=100)
    people = _accounts(client, make)
    with redis_server.client() as store:
        store.config_set("maxmemory", "64mb")
        store.config_set("maxmemory-policy", "volatile-lru")
        store.flushdb()
        _revoke(client, people)
        assert store.get(EPOCH_KEY) == DATABASE
        # What eviction could do: drop the markers (they have a TTL) but not the epoch.
        for pattern in ("session:*", "user:*", "revoked:*"):
            for key in store.keys(pattern):
                store.delete(key)
        _assert_outcomes(client, book.id, people)


def test_a_marker_that_could_not_be_written_makes_everyone_reseed(private_app, redis_server, make):
    client = private_app.test_client()
    book = make.book(stock=100)
    people = _accounts(client, make)
    with redis_server.client() as store:
        # Out of memory with noeviction: reads answer, every write is refused.
        store.config_set("maxmemory", "1")
        _revoke(client, people)
        store.config_set("maxmemory", "0")
        assert store.get(EPOCH_KEY) == COMPLETE and store.keys("session:*") == []
    _assert_outcomes(client, book.id, people)


def test_a_seed_aborts_when_redis_loses_data_while_it_reads_the_database(private_app, redis_server):
    with private_app.app_context(), redis_server.client() as store:

        def read_then_lose() -> Markers:
            store.flushdb()  # lost between the database read and the write
            return Markers(sessions=["s1"])

        assert seed(store, read_then_lose) is False
        assert store.get(EPOCH_KEY) is None and store.keys("session:*") == []
        store.set(SEED_KEY, b"1")  # another process is seeding
        assert seed(store, lambda: Markers(sessions=["s1"])) is False
        store.delete(SEED_KEY)
        assert seed(store, lambda: Markers(sessions=["s1"])) is True
        assert store.get(EPOCH_KEY) == COMPLETE and store.exists("session:s1:revoked")
        assert store.ttl(EPOCH_KEY) == -1 and store.get(SEED_KEY) is None


@pytest.mark.e2e
def test_revocations_survive_a_redis_restart_under_gunicorn(redis_server, make):
    book = make.book(stock=100)
    server = LiveServer(
        env={"REDIS_URL": redis_server.url, "RATELIMIT_ENABLED": "false"}, workers=2
    ).start()
    try:
        http = HTTPClient(server.url)
        people = _accounts(http, make)
        _revoke(http, people)
        _restart_empty(redis_server)
        # Several rounds, so that both workers answer after the restart.
        for _ in range(4):
            _assert_outcomes(http, book.id, people)
        kept = bearer(people["kept"]["access_token"])
        with redis_server.client() as store:
            # A worker that met the restart as an error skips Redis a few seconds first.
            wait_until(
                lambda: (
                    http.get("/v1/users/me", headers=kept).status_code == 200
                    and store.get(EPOCH_KEY) == COMPLETE
                )
            )
        _assert_outcomes(http, book.id, people)
    finally:
        server.stop()


class HTTPClient:
    """The few test-client calls the helpers make, over real HTTP."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, self.base + path, timeout=10, **kwargs)
        response.status_code = int(response.status_code)
        response.get_json = response.json  # type: ignore[attr-defined]
        response.get_data = lambda as_text=True: response.text  # type: ignore[method-assign]
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self._call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self._call("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self._call("PATCH", path, **kwargs)
