"""The OpenAPI document covers every route, and the docs UI is served locally."""

from __future__ import annotations

import re

from openapi_spec_validator import validate


def test_spec_is_valid_openapi_3(client):
    spec = client.get("/openapi.json").get_json()
    validate(spec)
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_every_route_is_documented(app, client):
    spec = client.get("/openapi.json").get_json()
    hidden = {"/openapi.json", "/docs", "/docs/assets/{filename}", "/metrics"}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        if path in hidden:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            op = spec["paths"][path][method.lower()]
            assert op["summary"] and op["responses"], (path, method)
            assert "500" in op["responses"] and "429" in op["responses"]


def test_write_operations_declare_bearer_and_errors(client):
    spec = client.get("/openapi.json").get_json()
    create = spec["paths"]["/v1/books"]["post"]
    assert create["security"] == [{"bearerAuth": []}]
    assert {"201", "400", "401", "403", "409", "413", "415"} <= set(create["responses"])
    assert "Location" in create["responses"]["201"]["headers"]
    patch = spec["paths"]["/v1/books/{book_id}"]["patch"]
    assert "application/merge-patch+json" in patch["requestBody"]["content"]
    assert "412" in patch["responses"]
    listing = spec["paths"]["/v1/books"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"page", "per_page", "cursor", "sort", "fields", "q", "include", "min_price"} <= names


def test_error_schema_is_referenced(client):
    spec = client.get("/openapi.json").get_json()
    error = spec["paths"]["/v1/books/{book_id}"]["get"]["responses"]["404"]
    assert error["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_docs_ui_served_without_external_assets(client):
    html = client.get("/docs").get_data(as_text=True)
    assert "/openapi.json" in html and "http" not in html.split("<body>")[1]
    with client.get("/docs/assets/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200 and b"SwaggerUIBundle" in asset.get_data()
