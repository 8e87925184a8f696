"""The per-request token checks: their budget, and their fallbacks without Redis."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis
from sqlalchemy import event

from bookstore.db import reads
from bookstore.extensions import db
from bookstore.redis.client import get_link
from tests.conftest import REDIS_URL, QueryCounter, free_port
from tests.sessions import PASSWORD, assert_error, bearer, login, me, signup


class CountingConnection(redis.Connection):
    """A real Redis connection that records every packet it sends (one per round trip)."""

    sent: list[bytes] = []

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        packet = command if isinstance(command, bytes) else b"".join(command)
        CountingConnection.sent.append(packet)
        super().send_packed_command(command, check_health)


def commands(sent: list[bytes]) -> list[str]:
    return [packet.split(b"\r\n")[2].decode() for packet in sent]


def revocation_lookups(sent: list[bytes]) -> int:
    return len([packet for packet in sent if b"MGET" in packet and b":revoked\r\n" in packet])


@pytest.fixture
def counted(make_app):
    app = make_app()
    pool = redis.ConnectionPool.from_url(REDIS_URL, connection_class=CountingConnection)
    get_link(app).client = redis.Redis(connection_pool=pool)
    yield app
    pool.disconnect()


def _statements(app) -> QueryCounter:
    counter = QueryCounter()
    with app.app_context():
        for engine in reads.engines():  # the session's and the read path's
            event.listen(engine, "before_cursor_execute", counter)
    return counter


def _admin_headers(client, make) -> dict[str, str]:
    make.user(email="boss@example.com", password=PASSWORD, role="admin")
    return bearer(login(client, "boss@example.com")["access_token"])


def test_an_authenticated_request_costs_one_mget_and_no_sql(counted, make):
    client = counted.test_client()
    headers = _admin_headers(client, make)
    # An admin-only write with an invalid body: auth is the only work before the 400.
    assert client.post("/v1/books", headers=headers, json={}).status_code == 400  # warm-up
    CountingConnection.sent.clear()
    statements = _statements(counted)
    response = client.post("/v1/books", headers=headers, json={})
    assert_error(response, 400, "VALIDATION_ERROR")
    # The rate limit's script call, and the three markers in one MGET.
    assert commands(CountingConnection.sent) == ["EVALSHA", "MGET"]
    assert revocation_lookups(CountingConnection.sent) == 1
    assert statements.count == 0


def test_a_public_read_with_a_token_costs_no_revocation_lookup(counted, make):
    # The token only picks the rate-limit bucket there; revocation matters where the
    # caller's identity is used.
    client = counted.test_client()
    tokens = signup(client)
    headers = bearer(tokens["access_token"])
    path = f"/v1/books/{make.book().id}"
    assert me(client, tokens["access_token"]).status_code == 200  # connects the client
    CountingConnection.sent.clear()
    response = client.get(path, headers=headers)
    assert response.status_code == 200 and response.headers["X-RateLimit-Remaining"] == "298"
    assert revocation_lookups(CountingConnection.sent) == 0
    assert me(client, tokens["access_token"]).status_code == 200
    assert revocation_lookups(CountingConnection.sent) == 1


def test_a_revoked_token_still_reads_the_public_catalog_in_its_own_bucket(counted, make):
    client = counted.test_client()
    tokens = signup(client)
    headers = bearer(tokens["access_token"])
    path = f"/v1/books/{make.book().id}"
    assert client.post("/v1/auth/logout", headers=headers).status_code == 204
    assert_error(me(client, tokens["access_token"]), 401, "INVALID_TOKEN")
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    # The user's second read (after the refused GET /users/me): the client IP has made
    # no read yet, so its bucket would say 299.
    assert response.headers["X-RateLimit-Remaining"] == "298"


def test_without_redis_the_check_is_one_sql_query(make_app, make):
    plain = make_app(REDIS_URL=None)
    client = plain.test_client()
    headers = _admin_headers(client, make)
    statements = _statements(plain)
    assert_error(client.post("/v1/books", headers=headers, json={}), 400, "VALIDATION_ERROR")
    assert statements.count == 1
    assert "users" in statements.statements[0]


@pytest.fixture
def redis_down(make_app):
    """An app whose REDIS_URL points at a port nothing listens on."""
    return make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")


def test_redis_down_falls_back_to_the_database_never_a_500(redis_down, make, caplog):
    client = redis_down.test_client()
    headers = _admin_headers(client, make)
    with caplog.at_level(logging.WARNING, logger="bookstore.redis"):
        response = client.post("/v1/books", headers=headers, json={})
    assert_error(response, 400, "VALIDATION_ERROR")
    assert any("Redis unreachable" in r.getMessage() for r in caplog.records)
    # The breaker is open: Redis is skipped for a while rather than timing out each time.
    assert not get_link(redis_down).up


def test_redis_down_still_enforces_logout_and_deactivation(redis_down, make):
    client = redis_down.test_client()
    tokens = signup(client)
    assert client.post("/v1/auth/logout", headers=bearer(tokens["access_token"])).status_code == 204
    assert_error(me(client, tokens["access_token"]), 401, "INVALID_TOKEN")

    other = login(client, "reader@example.com")
    admin = _admin_headers(client, make)
    user_id = tokens["user"]["id"]
    response = client.patch(f"/v1/users/{user_id}", headers=admin, json={"active": False})
    assert response.status_code == 200
    assert_error(me(client, other["access_token"]), 401, "INVALID_TOKEN")


def test_markers_expire_with_the_tokens_they_revoke(client, make):
    tokens = signup(client)
    admin = _admin_headers(client, make)
    user_id = tokens["user"]["id"]
    client.patch(f"/v1/users/{user_id}", headers=admin, json={"role": "admin"})
    store = redis.Redis.from_url(REDIS_URL)
    assert store.get(f"user:{user_id}:ver") == b"1"
    assert 900 < store.ttl(f"user:{user_id}:ver") <= 960
    client.post("/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    (session_key,) = store.keys("session:*:revoked")
    assert 900 < store.ttl(session_key) <= 960


def test_a_token_of_a_deleted_user_is_refused_by_the_database_check(make_app, make):
    plain = make_app(REDIS_URL=None)
    client = plain.test_client()
    tokens = signup(client)
    with plain.app_context():
        db.session.execute(db.text("DELETE FROM users"))
        db.session.commit()
    assert_error(me(client, tokens["access_token"]), 401, "INVALID_TOKEN")
