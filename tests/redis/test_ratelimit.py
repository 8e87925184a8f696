"""Rate limits through the Flask test client, on the real Redis (REDIS_URL)."""

from __future__ import annotations

import logging
import time

import pytest
from flask import Blueprint, Flask

from bookstore import create_app
from bookstore.auth import create_access_token
from bookstore.config import ConfigError, load_config
from bookstore.exceptions import Unauthorized
from bookstore.web.requests import json_body
from tests.conftest import free_port
from tests.helpers import assert_error

LIMITS = {
    "RATELIMIT_DEFAULT": "5/minute",
    "RATELIMIT_WRITE": "2/minute",
    "RATELIMIT_ADMIN": "8/minute",
    "RATELIMIT_LOGIN_IP": "4/minute",
    "RATELIMIT_LOGIN_ACCOUNT": "2/minute",
}
RATE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "RateLimit",
    "RateLimit-Policy",
)


def with_login(app: Flask) -> Flask:
    """Give ``app`` an ``auth.login`` endpoint unless the real one is registered."""
    if "auth.login" not in app.view_functions:
        bp = Blueprint("auth", __name__)

        @bp.post("/v1/auth/login")
        def login():
            json_body()
            raise Unauthorized("Invalid email or password", code="INVALID_CREDENTIALS")

        app.register_blueprint(bp)
    return app


def limited_app(**overrides: object) -> Flask:
    return with_login(create_app({**LIMITS, **overrides}))


@pytest.fixture
def limited(app):
    return limited_app().test_client()


def numbers(resp) -> tuple[int, int, int]:
    limit = int(resp.headers["X-RateLimit-Limit"])
    remaining = int(resp.headers["X-RateLimit-Remaining"])
    reset = int(resp.headers["X-RateLimit-Reset"])
    assert resp.headers["RateLimit"] == f"limit={limit}, remaining={remaining}, reset={reset}"
    assert resp.headers["RateLimit-Policy"] == f"{limit};w=60"
    assert 0 <= reset <= 60
    return limit, remaining, reset


def bearer(user_id: int, role: str = "customer") -> dict[str, str]:
    return {"Authorization": f"Bearer {create_access_token(user_id, role)}"}


def test_every_response_carries_the_headers_with_the_same_numbers(limited):
    first = limited.get("/v1")
    assert first.status_code == 200
    assert numbers(first) == (5, 4, 60)
    assert numbers(limited.get("/v1/books"))[:2] == (5, 3)
    assert numbers(limited.get("/v1/nothing-here"))[:2] == (5, 2)  # 404s count too
    assert numbers(limited.get("/v1/books?per_page=abc"))[:2] == (5, 1)
    assert numbers(limited.delete("/v1/books"))[:2] == (2, 1)  # a 405 DELETE is a write


def test_over_the_limit_is_429_envelope_with_retry_after(limited):
    for _ in range(5):
        assert limited.get("/v1").status_code == 200
    resp = limited.get("/v1")
    body = assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert "5 per 1 minute" in body["error"]["message"]
    limit, remaining, reset = numbers(resp)
    assert (limit, remaining) == (5, 0)
    assert resp.headers["Retry-After"] == str(reset) and 1 <= reset <= 60
    assert resp.headers["Cache-Control"] == "no-store"
    assert limited.get("/v1/books").status_code == 429  # the bucket spans every endpoint


def test_health_docs_spec_and_preflight_are_exempt_and_uncounted(limited):
    for path in ("/health/live", "/health/ready", "/openapi.json", "/docs"):
        for _ in range(6):
            resp = limited.get(path)
            assert resp.status_code == 200, path
            assert not set(RATE_HEADERS) & set(resp.headers), path
    preflight = limited.options(
        "/v1/books",
        headers={"Origin": "http://127.0.0.1:5173", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204 and "X-RateLimit-Limit" not in preflight.headers
    assert numbers(limited.get("/v1"))[:2] == (5, 4)


def test_users_have_their_own_buckets_and_anonymous_callers_one_per_ip(limited, make):
    alice, bob = make.user(), make.user()
    for _ in range(5):
        assert limited.get("/v1", headers=bearer(alice.id)).status_code == 200
    assert_error(limited.get("/v1", headers=bearer(alice.id)), 429, "RATE_LIMIT_EXCEEDED")
    assert numbers(limited.get("/v1", headers=bearer(bob.id)))[:2] == (5, 4)
    assert numbers(limited.get("/v1"))[:2] == (5, 4)  # the IP's bucket is untouched


def test_an_invalid_token_is_counted_against_the_ip(limited):
    resp = limited.get("/v1/books", headers={"Authorization": "Bearer not-a-jwt"})
    assert resp.status_code == 200 and numbers(resp)[:2] == (5, 4)
    assert numbers(limited.get("/v1"))[:2] == (5, 3)


def test_writes_have_a_tighter_bucket_of_their_own(limited, make):
    customer = make.user()
    headers = bearer(customer.id)
    for _ in range(2):
        resp = limited.post("/v1/authors", json={"name": "X"}, headers=headers)
        assert_error(resp, 403, "INSUFFICIENT_PERMISSIONS")
        assert int(resp.headers["X-RateLimit-Limit"]) == 2
    assert_error(
        limited.post("/v1/authors", json={"name": "X"}, headers=headers),
        429,
        "RATE_LIMIT_EXCEEDED",
    )
    assert_error(limited.delete("/v1/authors/1", headers=headers), 429, "RATE_LIMIT_EXCEEDED")
    assert numbers(limited.get("/v1", headers=headers))[:2] == (5, 4)  # reads still go


def test_admins_get_the_higher_limit_for_reads_and_writes(limited, make):
    admin = make.user(role="admin")
    headers = bearer(admin.id, "admin")
    for i in range(4):
        assert (
            limited.post("/v1/authors", json={"name": f"A{i}"}, headers=headers).status_code == 201
        )
    for _ in range(4):
        assert limited.get("/v1/authors", headers=headers).status_code == 200
    resp = limited.get("/v1/authors", headers=headers)
    assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert resp.headers["X-RateLimit-Limit"] == "8"


def test_login_is_limited_per_account_and_per_ip(limited):
    def login(email: str):
        return limited.post("/v1/auth/login", json={"email": email, "password": "wrong"})

    first = login("reader@example.com")
    assert first.status_code == 401
    assert numbers(first)[:2] == (2, 1)  # the tighter of account (2) and IP (4)
    assert login("  Reader@Example.COM ").status_code == 401  # same account, normalised
    resp = login("reader@example.com")
    assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert numbers(resp)[:2] == (2, 0) and resp.headers["Retry-After"]
    # The IP bucket (4) is checked first: the refused attempt above spent one of its slots.
    assert login("other@example.com").status_code == 401
    resp = login("third@example.com")
    assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert numbers(resp)[:2] == (4, 0)
    # Login does not spend the general bucket, and vice versa.
    assert numbers(limited.get("/v1"))[:2] == (5, 4)


def test_login_without_an_email_is_still_limited_per_ip(limited):
    for body in ("not json", '{"email": 5}', "[]", "{}"):
        resp = limited.post("/v1/auth/login", data=body, content_type="application/json")
        assert resp.status_code in (400, 401)
        assert resp.headers["X-RateLimit-Limit"] == "4"
    assert_error(
        limited.post("/v1/auth/login", json={"email": "a@example.com"}),
        429,
        "RATE_LIMIT_EXCEEDED",
    )


def test_x_forwarded_for_is_ignored_without_trusted_proxies(limited):
    for n in range(5):
        forwarded = {"X-Forwarded-For": f"203.0.113.{n}"}
        assert limited.get("/v1", headers=forwarded).status_code == 200
    resp = limited.get("/v1", headers={"X-Forwarded-For": "198.51.100.7"})
    assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")


def test_behind_one_trusted_proxy_the_last_forwarded_address_is_the_client(app):
    client = limited_app(TRUSTED_PROXIES=1).test_client()
    for _ in range(5):
        assert client.get("/v1", headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 200
    # A client cannot escape by prepending addresses: only our proxy's hop is believed.
    spoofed = {"X-Forwarded-For": "10.9.9.9, 203.0.113.1"}
    assert_error(client.get("/v1", headers=spoofed), 429, "RATE_LIMIT_EXCEEDED")
    assert client.get("/v1", headers={"X-Forwarded-For": "203.0.113.2"}).status_code == 200


def test_the_window_moves_instead_of_resetting_at_a_boundary(app):
    client = limited_app(RATELIMIT_DEFAULT="2 per 2 seconds").test_client()
    start = time.monotonic()
    assert client.get("/v1").status_code == 200
    time.sleep(1.0)
    assert client.get("/v1").status_code == 200
    assert client.get("/v1").status_code == 429
    time.sleep(max(0.0, start + 2.3 - time.monotonic()))
    # The first hit has left the window; the second has not. A fixed window would have
    # started afresh at the 2-second boundary and let two through.
    assert client.get("/v1").status_code == 200
    assert client.get("/v1").status_code == 429


def test_disabled_limiter_sends_no_headers(app):
    client = limited_app(RATELIMIT_ENABLED=False).test_client()
    for _ in range(7):
        resp = client.get("/v1")
        assert resp.status_code == 200 and "X-RateLimit-Limit" not in resp.headers


def test_without_redis_limits_are_per_process_and_say_so(app, caplog):
    with caplog.at_level(logging.WARNING, logger="bookstore.redis"):
        client = limited_app(REDIS_URL=None).test_client()
    assert "rate limits and the response cache are kept per process" in caplog.text
    for _ in range(5):
        assert client.get("/v1").status_code == 200
    assert_error(client.get("/v1"), 429, "RATE_LIMIT_EXCEEDED")
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.get_json()["checks"]["redis"] == {"status": "not_configured"}


def test_an_unreachable_redis_falls_back_to_counting_in_process(app, caplog):
    port = free_port()
    client = limited_app(REDIS_URL=f"redis://127.0.0.1:{port}/0").test_client()
    with caplog.at_level(logging.WARNING, logger="bookstore.redis"):
        for _ in range(5):
            resp = client.get("/v1")
            assert resp.status_code == 200 and resp.headers["X-RateLimit-Limit"] == "5"
        assert_error(client.get("/v1"), 429, "RATE_LIMIT_EXCEEDED")
    assert len([r for r in caplog.records if "Redis unreachable" in r.getMessage()]) == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RATELIMIT_DEFAULT", "lots"),
        ("RATELIMIT_WRITE", "0/minute"),
        ("RATELIMIT_LOGIN_IP", "1/second;10/minute"),
        ("TRUSTED_PROXIES", "-1"),
        ("REDIS_RETRY_INTERVAL", "soon"),
        ("CACHE_TTL", "0"),
    ],
)
def test_bad_limit_settings_are_refused_at_startup(name, value):
    with pytest.raises(ConfigError):
        load_config({"APP_ENV": "development", name: value})


def test_limits_come_from_the_environment():
    cfg = load_config({"APP_ENV": "development", "RATELIMIT_ADMIN": "20 per 10 seconds"})
    assert cfg["RATELIMIT_ADMIN"] == "20 per 10 seconds"
    assert cfg["RATELIMIT_DEFAULT"] == "300/minute" and cfg["TRUSTED_PROXIES"] == 0


def test_the_spec_documents_the_headers_on_every_response(client):
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"]["/v1/books/{book_id}"]["get"]

    def response(status: str) -> dict:
        found = operation["responses"][status]  # errors are shared components
        if "$ref" in found:
            found = spec["components"]["responses"][found["$ref"].rsplit("/", 1)[1]]
        return found

    for status in ("200", "404", "429"):
        assert set(RATE_HEADERS) <= set(response(status)["headers"]), status
    for name in RATE_HEADERS:
        assert spec["components"]["headers"][name]["schema"]["type"] in ("integer", "string")
    assert "Retry-After" in response("429")["headers"]
    assert "moving window" in response("429")["description"]
    assert "X-Cache" in response("200")["headers"]
