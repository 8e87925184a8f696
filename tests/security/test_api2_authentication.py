"""API2:2023 Broken Authentication: forged, expired and none-algorithm tokens, brute force.

tests/auth/test_tokens.py forges some twenty kinds of token against one endpoint; here the
worst of them are replayed against every protected operation, so no route can skip the
check. Brute force runs against the default limits (5 logins per minute per account, 10
per client IP). Also proven elsewhere: refresh-token reuse revokes the family, logout
and password changes revoke at once (tests/api/test_auth.py, test_users.py), login costs
one bcrypt whether or not the account exists (tests/auth/test_passwords.py), and
``X-Forwarded-For`` cannot reset the per-IP count (tests/redis/test_ratelimit.py).
"""

from __future__ import annotations

import time

import pytest

from bookstore.openapi import build_spec
from tests.auth.test_tokens import claims_for, hs, segments
from tests.conftest import SECRET
from tests.security.conftest import fill
from tests.sessions import PASSWORD, assert_error, bearer


def protected_operations(app) -> list[tuple[str, str]]:
    """(method, path) of every operation the spec says needs a bearer token."""
    with app.app_context():
        spec = build_spec(app)
    return [
        (method.upper(), path.replace("{", "<").replace("}", ">"))
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if op.get("security") == [{"bearerAuth": []}]
    ]


def forged(kind: str, user_id: int) -> str:
    claims = claims_for(user_id, role="admin")
    if kind == "none":
        return segments({"alg": "none", "typ": "JWT"}, claims) + "."
    if kind == "wrong key":
        return hs(claims, key="a-guessed-secret-that-is-long-enough-0123456789")
    past = int(time.time()) - 3600
    return hs({**claims, "iat": past - 900, "exp": past}, key=SECRET)


@pytest.mark.parametrize(
    ("kind", "code"),
    [("none", "INVALID_TOKEN"), ("wrong key", "INVALID_TOKEN"), ("expired", "TOKEN_EXPIRED")],
)
def test_bad_admin_tokens_are_refused_by_every_protected_operation(
    app, client, make, admin, kind, code
):
    operations = protected_operations(app)
    assert len(operations) > 30  # the spec lists them all
    token = forged(kind, admin.id)  # the claims of a real admin: only the signature is off
    for method, rule in operations:
        response = client.open(fill(rule), method=method, json={}, headers=bearer(token))
        assert_error(response, 401, code)
    assert client.get("/v1/users", headers=admin.headers).get_json()["pagination"]["total"] == 1


def test_a_token_is_only_read_from_the_authorization_header(client, alice):
    token = alice.headers["Authorization"].split()[1]
    for url in (f"/v1/users/me?access_token={token}", f"/v1/users/me?token={token}"):
        assert_error(client.get(url), 401, "AUTHENTICATION_REQUIRED")
    client.set_cookie("access_token", token)
    assert_error(client.get("/v1/users/me"), 401, "AUTHENTICATION_REQUIRED")


def login(client, email: str, password: str):
    return client.post("/v1/auth/login", json={"email": email, "password": password})


def test_guessing_one_password_stops_at_five_tries_even_for_the_right_one(client, make):
    make.user(email="victim@example.com", password=PASSWORD)
    for n in range(5):
        assert_error(login(client, "victim@example.com", f"guess {n}"), 401, "INVALID_CREDENTIALS")
    # The sixth try is refused before the password is looked at: no oracle for a hit.
    refused = login(client, "Victim@Example.com ", PASSWORD)
    assert_error(refused, 429, "RATE_LIMIT_EXCEEDED")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "access_token" not in refused.get_data(as_text=True)


def test_spraying_many_accounts_from_one_address_stops_at_ten(client, make):
    for n in range(12):
        make.user(email=f"user{n}@spray.example", password=PASSWORD)
    statuses = [login(client, f"user{n}@spray.example", "Password1").status_code for n in range(12)]
    assert statuses == [401] * 10 + [429] * 2
    # The owner of an untouched account, from the same address, waits as well.
    assert login(client, "user11@spray.example", PASSWORD).status_code == 429


def test_login_sets_no_cookie_and_never_echoes_the_password(client, make):
    make.user(email="reader@example.com", password=PASSWORD)
    ok = login(client, "reader@example.com", PASSWORD)
    assert ok.status_code == 200 and "Set-Cookie" not in ok.headers
    bad = login(client, "reader@example.com", "hunter2-but-longer")
    assert "hunter2" not in bad.get_data(as_text=True)
    assert "no-store" in ok.headers["Cache-Control"]  # tokens never sit in a cache


def test_guessing_the_current_password_shares_the_logins_per_account_budget(client, make):
    make.user(email="victim@example.com", password=PASSWORD)
    token = login(client, "victim@example.com", PASSWORD).get_json()["data"]["access_token"]
    headers = bearer(token)

    def confirm(guess: str):
        body = {"email": "new@example.com", "current_password": guess}
        return client.patch("/v1/users/me", json=body, headers=headers)

    # The login above spent one of the account's five attempts; the guesses spend the rest.
    for n in range(4):
        assert_error(confirm(f"guess {n}"), 400, "VALIDATION_ERROR")
    refused = confirm("guess 4")
    assert_error(refused, 429, "RATE_LIMIT_EXCEEDED")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Limit"] == "5"
    # Counted under the login's account key: the login is refused now too.
    assert_error(login(client, " Victim@Example.com", PASSWORD), 429, "RATE_LIMIT_EXCEEDED")
    # Far below the write limit (60/minute), which the guesses also spent.
    assert client.get("/v1/users/me", headers=headers).status_code == 200
