"""POST /v1/auth/register, /login, /refresh, /logout against PostgreSQL and Redis."""

from __future__ import annotations

import threading
import time

import jwt
import pytest
import redis
from sqlalchemy import select

from bookstore.extensions import db
from bookstore.models import RefreshToken, RevokedToken, User
from bookstore.redis.revocation import jti_key
from tests.conftest import REDIS_URL, SECRET
from tests.sessions import (
    PASSWORD,
    assert_error,
    bearer,
    login,
    me,
    refresh,
    register,
    signup,
)

# -- register --------------------------------------------------------------------------


def test_register_creates_a_customer_with_a_normalised_email(client, app_ctx):
    response = client.post(
        "/v1/auth/register",
        json={"email": "  Ada.Lovelace@Example.COM ", "password": PASSWORD, "name": "Ada"},
    )
    assert response.status_code == 201
    data = response.get_json()["data"]
    assert data["email"] == "ada.lovelace@example.com"
    assert data["role"] == "customer"
    assert data["active"] is True
    assert data["name"] == "Ada"
    assert response.headers["Location"] == f"/v1/users/{data['id']}"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "password" not in response.get_data(as_text=True)
    stored = db.session.get(User, data["id"])
    assert stored.password_hash.startswith("$2b$04$")  # bcrypt at the configured cost
    assert PASSWORD not in stored.password_hash


def test_register_refuses_a_duplicate_email_whatever_its_case(client):
    register(client, "reader@example.com")
    response = client.post(
        "/v1/auth/register", json={"email": " READER@example.com", "password": PASSWORD}
    )
    error = assert_error(response, 409, "DUPLICATE_RESOURCE")
    assert error["details"][0]["field"] == "email"


def test_register_never_accepts_a_client_chosen_role(client):
    response = client.post(
        "/v1/auth/register",
        json={"email": "eve@example.com", "password": PASSWORD, "role": "admin"},
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"] == [
        {"field": "role", "code": "UNKNOWN_FIELD", "message": "Unknown field."}
    ]


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short pass", "TOO_SHORT"),
        ("elevenchars", "TOO_SHORT"),
        ("é" * 37, "TOO_LONG"),  # 37 characters, 74 bytes: over bcrypt's 72-byte limit
        ("x" * 71 + "yz", "TOO_LONG"),
        ("a" * 5000, "TOO_LONG"),
        ("password1234", "COMMON_PASSWORD"),
        ("Password 1234", "COMMON_PASSWORD"),  # case and spaces do not disguise it
        ("qwertyuiop123", "COMMON_PASSWORD"),
        ("iloveyou2024", "COMMON_PASSWORD"),
        ("correct horse battery staple", "COMMON_PASSWORD"),
        ("zzzzzzzzzzzzzzzz", "COMMON_PASSWORD"),
        ("abababababab", "COMMON_PASSWORD"),
        ("abcdefghijklmnop", "COMMON_PASSWORD"),
        ("987654321098", "COMMON_PASSWORD"),
        ("carol.writer@example.com", "COMMON_PASSWORD"),  # the email itself
        ("with a nul \x00 inside", "INVALID_FORMAT"),
    ],
)
def test_register_applies_the_password_policy(client, password, code):
    response = client.post(
        "/v1/auth/register", json={"email": "carol.writer@example.com", "password": password}
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"][0]["field"] == "password"
    assert error["details"][0]["code"] == code


@pytest.mark.parametrize(
    "password",
    [
        "twelve chars",  # exactly 12, spaces count, no composition rules
        "çéèêëàâîïôûü" * 3,  # 36 characters, 72 bytes exactly
        ("seventy two bytes of plain words " * 3)[:72],
        "mañana-por-la-mañana",
        "Tr0ub4dor&3 is old",
    ],
)
def test_register_accepts_long_passwords_without_composition_rules(client, password):
    register(client, "dave@example.com", password)
    assert login(client, "dave@example.com", password)["token_type"] == "Bearer"


def test_unicode_passwords_match_in_either_normal_form(client):
    composed, decomposed = "caf\u00e9 au lait noir", "cafe\u0301 au lait noir"
    register(client, "erin@example.com", composed)
    assert login(client, "erin@example.com", decomposed)["access_token"]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"password": PASSWORD}, "email", "REQUIRED"),
        ({"email": "a@example.com"}, "password", "REQUIRED"),
        ({"email": "not-an-email", "password": PASSWORD}, "email", "INVALID_FORMAT"),
        ({"email": 42, "password": PASSWORD}, "email", "INVALID_TYPE"),
        ({"email": "a@example.com", "password": 123456789012}, "password", "INVALID_TYPE"),
        ({"email": "a" * 250 + "@example.com", "password": PASSWORD}, "email", "TOO_LONG"),
        ({"email": "a@example.com", "password": PASSWORD, "name": "n" * 201}, "name", "TOO_LONG"),
    ],
)
def test_register_rejects_bad_bodies(client, body, field, code):
    error = assert_error(client.post("/v1/auth/register", json=body), 400, "VALIDATION_ERROR")
    assert {"field": field, "code": code} in [
        {"field": d["field"], "code": d["code"]} for d in error["details"]
    ]


def test_register_rejects_non_json(client):
    response = client.post("/v1/auth/register", data="email=x", content_type="text/plain")
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    response = client.post("/v1/auth/register", data="{", content_type="application/json")
    assert_error(response, 400, "INVALID_JSON")


# -- login -----------------------------------------------------------------------------


def test_login_returns_the_contract_token_pair(client):
    register(client, "reader@example.com")
    response = client.post(
        "/v1/auth/login", json={"email": " Reader@Example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    data = response.get_json()["data"]
    assert set(data) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert data["token_type"] == "Bearer"
    assert data["expires_in"] == 900
    assert me(client, data["access_token"]).status_code == 200


def _login_error(client, email, password):
    response = client.post("/v1/auth/login", json={"email": email, "password": password})
    error = assert_error(response, 401, "INVALID_CREDENTIALS")
    assert error["details"] == []
    return error["message"], response.headers["WWW-Authenticate"]


def test_every_login_failure_is_the_same_generic_401(client, make):
    register(client, "reader@example.com")
    make.user(email="inactive@example.com", password=PASSWORD, active=False)
    answers = {
        _login_error(client, "reader@example.com", "the wrong password"),
        _login_error(client, "nobody@example.com", PASSWORD),
        _login_error(client, "inactive@example.com", PASSWORD),
        _login_error(client, "not an email", PASSWORD),
        _login_error(client, "reader@example.com", "é" * 100),  # over 72 bytes: no 500
    }
    # One answer whatever went wrong: nothing tells an unknown account from a wrong password.
    assert answers == {("Invalid email or password", 'Bearer realm="bookstore"')}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "reader@example.com"},
        {"email": "reader@example.com", "password": None},
        {"email": "reader@example.com", "password": "x" * 1025},
        {"email": ["reader@example.com"], "password": PASSWORD},
    ],
)
def test_login_rejects_malformed_bodies(client, body):
    assert_error(client.post("/v1/auth/login", json=body), 400, "VALIDATION_ERROR")


# -- refresh ---------------------------------------------------------------------------


def test_refresh_rotates_the_refresh_token(client, app_ctx):
    tokens = signup(client)
    response = refresh(client, tokens["refresh_token"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    rotated = response.get_json()["data"]
    assert rotated["expires_in"] == 900
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert me(client, rotated["access_token"]).status_code == 200
    rows = db.session.execute(select(RefreshToken)).scalars().all()
    assert len(rows) == 2
    assert len({row.family_id for row in rows}) == 1
    assert sum(row.used_at is not None for row in rows) == 1
    # Only hashes are stored, never the tokens themselves.
    stored = {row.token_hash for row in rows}
    assert tokens["refresh_token"] not in stored and rotated["refresh_token"] not in stored


def test_reusing_a_spent_refresh_token_revokes_the_whole_family(client):
    tokens = signup(client)
    rotated = refresh(client, tokens["refresh_token"]).get_json()["data"]
    # An attacker replays the stolen, already used token:
    error = assert_error(refresh(client, tokens["refresh_token"]), 401, "INVALID_TOKEN")
    assert "revoked" in error["message"]
    # ...and the legitimate holder's newer tokens of that family die with it.
    assert_error(refresh(client, rotated["refresh_token"]), 401, "INVALID_TOKEN")
    assert_error(me(client, rotated["access_token"]), 401, "INVALID_TOKEN")
    assert_error(me(client, tokens["access_token"]), 401, "INVALID_TOKEN")
    # Another session of the same user is untouched.
    other = login(client, "reader@example.com")
    assert me(client, other["access_token"]).status_code == 200
    assert refresh(client, other["refresh_token"]).status_code == 200


def test_concurrent_uses_of_one_refresh_token_let_at_most_one_through(app, client):
    token = signup(client)["refresh_token"]
    workers = 6
    barrier = threading.Barrier(workers)
    statuses: list[int] = []

    def use() -> None:
        own_client = app.test_client()
        barrier.wait()
        statuses.append(refresh(own_client, token).status_code)

    threads = [threading.Thread(target=use) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [401] * (workers - 1)


def test_an_expired_refresh_token_is_token_expired(client):
    tokens = signup(client)
    claims = jwt.decode(tokens["refresh_token"], options={"verify_signature": False})
    expired = jwt.encode({**claims, "exp": int(time.time()) - 60}, SECRET, algorithm="HS256")
    assert_error(refresh(client, expired), 401, "TOKEN_EXPIRED")


def test_refresh_refuses_an_access_token(client):
    tokens = signup(client)
    assert_error(refresh(client, tokens["access_token"]), 401, "INVALID_TOKEN")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
def test_refresh_refuses_garbage(client, token):
    assert_error(refresh(client, token), 401, "INVALID_TOKEN")


def test_refresh_refuses_a_deactivated_user(client, app_ctx):
    tokens = signup(client)
    user = db.session.get(User, tokens["user"]["id"])
    user.active = False
    db.session.commit()
    assert_error(refresh(client, tokens["refresh_token"]), 401, "INVALID_TOKEN")


@pytest.mark.parametrize("body", [{}, {"refresh_token": ""}, {"refresh_token": 7}])
def test_refresh_rejects_malformed_bodies(client, body):
    assert_error(client.post("/v1/auth/refresh", json=body), 400, "VALIDATION_ERROR")


# -- logout ----------------------------------------------------------------------------


def test_logout_revokes_the_access_token_and_its_session(client, app_ctx):
    tokens = signup(client)
    response = client.post("/v1/auth/logout", headers=bearer(tokens["access_token"]))
    assert response.status_code == 204
    assert response.data == b""
    assert_error(me(client, tokens["access_token"]), 401, "INVALID_TOKEN")
    assert_error(refresh(client, tokens["refresh_token"]), 401, "INVALID_TOKEN")
    assert db.session.execute(select(RevokedToken)).scalars().one()


def test_logout_with_the_refresh_token_alone(client):
    tokens = signup(client)
    response = client.post("/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 204
    assert_error(refresh(client, tokens["refresh_token"]), 401, "INVALID_TOKEN")
    # Access tokens of the session stop at once too, not at expiry.
    assert_error(me(client, tokens["access_token"]), 401, "INVALID_TOKEN")


def test_logout_leaves_other_sessions_alone(client):
    first = signup(client)
    second = login(client, "reader@example.com")
    client.post("/v1/auth/logout", headers=bearer(first["access_token"]))
    assert me(client, second["access_token"]).status_code == 200
    assert refresh(client, second["refresh_token"]).status_code == 200


def test_logout_with_an_expired_access_token_uses_the_refresh_token(client):
    tokens = signup(client)
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    expired = jwt.encode({**claims, "exp": int(time.time()) - 60}, SECRET, algorithm="HS256")
    alone = client.post("/v1/auth/logout", headers=bearer(expired))
    assert_error(alone, 401, "TOKEN_EXPIRED")
    response = client.post(
        "/v1/auth/logout", headers=bearer(expired), json={"refresh_token": tokens["refresh_token"]}
    )
    assert response.status_code == 204
    assert_error(refresh(client, tokens["refresh_token"]), 401, "INVALID_TOKEN")


def test_logout_with_an_invalid_access_token_is_401(client):
    tokens = signup(client)
    response = client.post(
        "/v1/auth/logout",
        headers=bearer(tokens["access_token"] + "x"),
        json={"refresh_token": tokens["refresh_token"]},
    )
    assert_error(response, 401, "INVALID_TOKEN")
    assert refresh(client, tokens["refresh_token"]).status_code == 200


def test_logout_needs_a_token(client):
    assert_error(client.post("/v1/auth/logout"), 401, "AUTHENTICATION_REQUIRED")
    response = client.post("/v1/auth/logout", json={})
    assert_error(response, 401, "AUTHENTICATION_REQUIRED")


def test_logout_refuses_another_users_refresh_token(client):
    mine = signup(client, "mine@example.com")
    theirs = signup(client, "theirs@example.com")
    response = client.post(
        "/v1/auth/logout",
        headers=bearer(mine["access_token"]),
        json={"refresh_token": theirs["refresh_token"]},
    )
    assert_error(response, 401, "INVALID_TOKEN")
    assert refresh(client, theirs["refresh_token"]).status_code == 200


def test_logout_rejects_a_bad_body(client):
    tokens = signup(client)
    headers = bearer(tokens["access_token"])
    response = client.post(
        "/v1/auth/logout", headers=headers, data="{", content_type="application/json"
    )
    assert_error(response, 400, "INVALID_JSON")
    response = client.post("/v1/auth/logout", headers=headers, json={"everything": True})
    assert_error(response, 400, "VALIDATION_ERROR")


def test_logout_survives_an_api_restart_through_redis(client, make_app, app_ctx):
    tokens = signup(client)
    client.post("/v1/auth/logout", headers=bearer(tokens["access_token"]))
    store = redis.Redis.from_url(REDIS_URL)
    (key,) = [k for k in store.scan_iter("revoked:*")]
    assert 0 < store.ttl(key) <= 900 + 60
    # Remove the database copy: a fresh instance must still refuse the token from Redis.
    db.session.execute(RevokedToken.__table__.delete())
    db.session.commit()
    restarted = make_app()
    assert_error(me(restarted.test_client(), tokens["access_token"]), 401, "INVALID_TOKEN")
    assert key == jti_key(key.decode().split(":", 1)[1]).encode()


def test_logout_without_redis_revokes_in_the_database(make_app):
    plain = make_app(REDIS_URL=None).test_client()
    tokens = signup(plain)
    assert plain.post("/v1/auth/logout", headers=bearer(tokens["access_token"])).status_code == 204
    assert_error(me(plain, tokens["access_token"]), 401, "INVALID_TOKEN")
    assert redis.Redis.from_url(REDIS_URL).dbsize() == 0


# -- OpenAPI ---------------------------------------------------------------------------


def test_openapi_declares_the_bearer_scheme_per_endpoint(client):
    spec = client.get("/openapi.json").get_json()
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert {k: scheme[k] for k in ("type", "scheme", "bearerFormat")} == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    paths = spec["paths"]
    for path in ("/v1/auth/register", "/v1/auth/login", "/v1/auth/refresh"):
        assert paths[path]["post"]["security"] == []
    assert paths["/v1/auth/logout"]["post"]["security"] == [{}, {"bearerAuth": []}]
    assert paths["/v1/auth/logout"]["post"]["requestBody"]["required"] is False
    assert paths["/v1/users/me"]["get"]["security"] == [{"bearerAuth": []}]
    assert paths["/v1/users"]["get"]["security"] == [{"bearerAuth": []}]
    assert "401" in paths["/v1/users/me"]["patch"]["responses"]
    assert paths["/v1/books"]["post"]["security"] == [{"bearerAuth": []}]
    schemas = spec["components"]["schemas"]
    assert "password_hash" not in str(schemas)
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    "path", ["/v1/auth/register", "/v1/auth/login", "/v1/auth/refresh", "/v1/auth/logout"]
)
def test_auth_endpoints_want_json(client, path):
    response = client.post(path, data="a=b", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    response = client.post(path, data='{"email": ', content_type="application/json")
    assert_error(response, 400, "INVALID_JSON")
    response = client.post(path, data="[]", content_type="application/json")
    assert_error(response, 400, "VALIDATION_ERROR")
