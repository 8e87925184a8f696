"""API9:2023 Improper Inventory Management: what is served is what is documented.

Every route the app serves is an operation of /openapi.json, and every operation is a
route, except the documentation itself and each instance's Prometheus /metrics (for the
scraper; nginx answers it 404, tests/proxy), hidden on purpose. There is one API version, no
debug, test or admin console, and production runs with debugging off. Also proven
elsewhere: every documented operation has a summary and its error responses
(tests/openapi/test_openapi.py).
"""

from __future__ import annotations

import re

import pytest

from bookstore import create_app
from tests.security.conftest import operations
from tests.sessions import assert_error

HIDDEN = {
    ("GET", "/"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/"),
    ("GET", "/docs/assets/{filename}"),
    ("GET", "/metrics"),
}


def as_openapi(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def test_served_and_documented_are_the_same_set(app, client):
    spec = client.get("/openapi.json").get_json()
    documented = {(m.upper(), path) for path, item in spec["paths"].items() for m in item}
    served = {(method, as_openapi(rule)) for method, rule in operations(app)}
    assert served - documented == HIDDEN
    assert documented - served == set()


def test_one_version_and_no_consoles(app, client):
    rules = [rule.rule for rule in app.url_map.iter_rules()]
    allowed = re.compile(
        r"^(/$|/v1(/|$)|/health/(live|ready)$|/openapi\.json$|/docs(/|$)|/metrics$)"
    )
    assert [rule for rule in rules if not allowed.match(rule)] == []
    assert not [r for r in rules if re.search(r"debug|console|admin|test|internal", r)]
    for path in ("/console", "/debug", "/_debug_toolbar", "/admin", "/v0/books", "/v2/books",
                 "/api/v1/books", "/static/app.js", "/.env", "/server-status"):  # fmt: skip
        assert_error(client.get(path), 404, "RESOURCE_NOT_FOUND")


def test_the_root_lists_exactly_the_collections_served(client):
    links = client.get("/v1").get_json()["data"]["_links"]
    collections = {name for name in links if name not in {"self", "openapi", "docs"}}
    assert collections == {"authors", "books", "magazines", "orders", "users", "webhooks"}
    for name in collections:
        assert client.get(links[name]).status_code in (200, 401)


def test_production_runs_without_debugging(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "q7Vd2LxR9mK4tWz8bN1cHf6gJp3sYa0uEo5iTr-_Zk")
    monkeypatch.setenv("BCRYPT_ROUNDS", "12")
    app = create_app()
    assert app.config["APP_ENV"] == "production"
    assert app.debug is False and app.testing is False
    assert not app.config.get("PROPAGATE_EXCEPTIONS")
    assert app.config["WEBHOOK_REQUIRE_HTTPS"] is True
    assert app.config["CORS_ORIGINS"] == []


@pytest.mark.parametrize("flag", ["FLASK_DEBUG", "DEBUG"])
def test_a_debug_variable_does_not_turn_debugging_on(monkeypatch, flag):
    monkeypatch.setenv(flag, "1")
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "q7Vd2LxR9mK4tWz8bN1cHf6gJp3sYa0uEo5iTr-_Zk")
    monkeypatch.setenv("BCRYPT_ROUNDS", "12")
    assert create_app().debug is False
