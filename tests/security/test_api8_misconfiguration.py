"""API8:2023 Security Misconfiguration: security headers, CORS, what the server reveals.

Every response, success or error, cached or not, carries ``nosniff``, ``no-referrer``,
``X-Frame-Options: DENY`` and a Content-Security-Policy that allows nothing (``/docs``
keeps its own, looser one: Swagger UI runs script). HSTS only when configured. CORS
answers only the configured origins, never ``*``, never with credentials. Also proven
elsewhere: a disallowed origin gets no CORS headers on a simple request
(tests/web/test_http.py::TestCORS), 500s carry no stack trace (tests/web/test_http.py),
production refuses default secrets (tests/config/test_tokens.py).
"""

from __future__ import annotations

import pytest
import requests

from bookstore import create_app
from bookstore.config import ConfigError, load_config
from bookstore.web.headers import JSON_CSP
from tests.conftest import LiveServer
from tests.sessions import assert_error

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": JSON_CSP,
}


def assert_hardened(response, csp: str = JSON_CSP) -> None:
    for name, value in {**HEADERS, "Content-Security-Policy": csp}.items():
        assert response.headers.get(name) == value, (name, response.status_code)
    assert "Strict-Transport-Security" not in response.headers


def test_every_kind_of_response_is_hardened(client, admin, book):
    url = f"/v1/books/{book.id}"
    first = client.get(url)
    cached = client.get(url)
    assert cached.headers["X-Cache"] == "HIT"
    responses = [
        first,
        cached,
        client.get(url, headers={"If-None-Match": first.headers["ETag"]}),  # 304
        client.get("/v1/books"),
        client.post("/v1/authors", json={"name": "A"}, headers=admin.headers),  # 201
        client.delete(
            f"/v1/authors/{first.get_json()['data']['author_id']}", headers=admin.headers
        ),
        client.get("/v1/nowhere"),  # 404
        client.delete("/v1/books"),  # 405
        client.get("/v1/users/me"),  # 401
        client.get("/health/ready"),
        client.get("/openapi.json"),
    ]
    assert [r.status_code for r in responses] == [
        200,
        200,
        304,
        200,
        201,
        409,
        404,
        405,
        401,
        200,
        200,
    ]
    for response in responses:
        assert_hardened(response)


def test_an_unexpected_error_is_hardened_too(app):
    broken = create_app()

    @broken.get("/boom")
    def boom():
        raise RuntimeError("internal detail")

    response = broken.test_client().get("/boom")
    assert_error(response, 500, "INTERNAL_ERROR")
    assert_hardened(response)


def test_the_docs_keep_their_own_policy(client):
    docs = client.get("/docs")
    assert "script-src 'self'" in docs.headers["Content-Security-Policy"]
    assert docs.headers["X-Frame-Options"] == "DENY"  # still not frameable
    assert docs.headers["X-Content-Type-Options"] == "nosniff"


def test_hsts_only_when_configured():
    hsts = create_app({"HSTS_SECONDS": 31536000}).test_client().get("/v1")
    assert hsts.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert load_config({"APP_ENV": "development", "HSTS_SECONDS": "600"})["HSTS_SECONDS"] == 600
    with pytest.raises(ConfigError):
        load_config({"APP_ENV": "development", "HSTS_SECONDS": "-1"})


# -- CORS ------------------------------------------------------------------------------


def preflight(client, origin: str):
    return client.options(
        "/v1/orders",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "null", "https://shop.example.evil.example", "http://shop.example"],
)
def test_cors_answers_no_other_origin(origin):
    client = create_app({"CORS_ORIGINS": ["https://shop.example"]}).test_client()
    for response in (preflight(client, origin), client.get("/v1", headers={"Origin": origin})):
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Access-Control-Allow-Credentials" not in response.headers


def test_cors_names_the_allowed_origin_never_a_wildcard_and_no_credentials():
    client = create_app({"CORS_ORIGINS": ["https://shop.example"]}).test_client()
    for response in (
        preflight(client, "https://shop.example"),
        client.get("/v1", headers={"Origin": "https://shop.example"}),
    ):
        assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example"
        assert "Access-Control-Allow-Credentials" not in response.headers
    # A shared cache must not hand one origin's answer to another, or to no origin.
    for headers in ({"Origin": "https://shop.example"}, {"Origin": "https://evil.example"}, {}):
        assert client.get("/v1/books", headers=headers).headers["Vary"] == "Origin"


def test_production_allows_no_origin_unless_configured():
    config = load_config({"SECRET_KEY": "q7Vd2LxR9mK4tWz8bN1cHf6gJp3sYa0uEo5iTr-_Zk"})
    assert config["APP_ENV"] == "production" and config["CORS_ORIGINS"] == []
    client = create_app({"CORS_ORIGINS": config["CORS_ORIGINS"]}).test_client()
    response = preflight(client, "http://localhost:5173")
    assert "Access-Control-Allow-Origin" not in response.headers


# -- over HTTP ------------------------------------------------------------------------


@pytest.mark.e2e
def test_the_server_names_no_version_and_its_refusals_are_hardened(app):
    server = LiveServer(workers=1).start()
    try:
        answers = [
            requests.get(server.url + "/v1", timeout=5),
            requests.get(server.url + "/v1/nowhere", timeout=5),
            requests.request("TRACE", server.url + "/v1", timeout=5),
            requests.get(server.url + "/v1/books?q=" + "x" * 9000, timeout=5),  # 414 by gunicorn
        ]
    finally:
        server.stop()
    assert [a.status_code for a in answers] == [200, 404, 405, 414]
    for answer in answers:
        # gunicorn has no setting for its Server header: its name, never its version.
        assert answer.headers.get("Server", "gunicorn") == "gunicorn"
        assert "X-Powered-By" not in answer.headers
        assert_hardened(answer)
        assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
        assert "gunicorn" not in answer.text.lower() and "werkzeug" not in answer.text.lower()
