"""The OpenAPI document covers every route, and the docs UI is served locally."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from bookstore.services.seed import seed_sample

MAX_DOCUMENT_BYTES = 200_000


@pytest.fixture
def spec(client) -> dict[str, Any]:
    return client.get("/openapi.json").get_json()


def _operations(spec: dict[str, Any]):
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            yield path, method, op


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = spec["components"][section][name]
    return node


def _schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return spec["components"]["schemas"][name]


def test_spec_is_valid_openapi_3(spec):
    validate(spec)
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_every_route_is_documented(app, spec):
    hidden = {"/openapi.json", "/docs", "/docs/", "/docs/assets/{filename}", "/", "/metrics"}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        if path in hidden:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            op = spec["paths"][path][method.lower()]
            assert op["summary"] and op["description"] and op["responses"], (path, method)
            assert "500" in op["responses"] and "429" in op["responses"]


def test_write_operations_declare_bearer_and_errors(spec):
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


def test_errors_and_headers_are_components(spec):
    error = spec["paths"]["/v1/books/{book_id}"]["get"]["responses"]["404"]
    assert error == {"$ref": "#/components/responses/NotFound"}
    body = _resolve(spec, error)["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Error"}
    for _path, _method, op in _operations(spec):
        for response in op["responses"].values():
            for header in response.get("headers", {}).values():
                assert set(header) == {"$ref"}
    assert len(json.dumps(spec, separators=(",", ":"))) < MAX_DOCUMENT_BYTES


def test_info_servers_and_tags(spec):
    assert spec["info"]["contact"] and spec["info"]["license"]["name"]
    assert spec["servers"] == [{"url": "/", "description": spec["servers"][0]["description"]}]
    described = {tag["name"] for tag in spec["tags"] if tag["description"]}
    used = {tag for _path, _method, op in _operations(spec) for tag in op["tags"]}
    assert used == described


def test_descriptions_are_markdown_without_the_docstrings_indentation(spec):
    placing = spec["paths"]["/v1/orders"]["post"]["description"]
    assert "\nbooks, 1 to 100 copies each" in placing  # a docstring's second line
    for path, method, op in _operations(spec):
        indented = [line for line in op["description"].splitlines() if line.startswith(" ")]
        assert not indented, (method, path, indented)


def test_the_book_operations_say_how_fresh_their_stock_is(spec):
    books = spec["paths"]["/v1/books"]["get"]["description"]
    assert "`CACHE_LIST_STOCK_MAX_AGE` seconds (5 by default) old" in books
    author_books = spec["paths"]["/v1/authors/{author_id}/books"]["get"]["description"]
    assert "`CACHE_LIST_STOCK_MAX_AGE`" in author_books
    assert "Always exact" in spec["paths"]["/v1/books/{book_id}"]["get"]["description"]


def test_version_is_the_package_version(client, spec):
    from bookstore.version import __version__

    assert spec["info"]["version"] == __version__
    assert client.get("/v1").get_json()["data"]["version"] == __version__


def test_requests_and_responses_have_separate_schemas(spec):
    assert '"readOnly"' not in json.dumps(spec) and '"writeOnly"' not in json.dumps(spec)
    book_input = _schema(spec, "BookInput")
    assert "id" not in book_input["properties"] and "title" in book_input["required"]
    assert "required" not in _schema(spec, "BookPatchInput")
    order = _schema(spec, "Order")
    assert {"id", "status", "total", "items", "_links"} <= set(order["required"])
    assert set(_schema(spec, "OrderLinks")["required"]) == {"self"}  # actions vary by state
    book = _schema(spec, "Book")
    assert {"id", "isbn", "title", "price", "_links"} <= set(book["required"])
    assert "author" not in book["required"]  # only with include=author


def test_sparse_fields_responses_require_only_id_and_links(spec):
    listing = spec["paths"]["/v1/books"]["get"]["responses"]["200"]
    envelope = _resolve(spec, listing["content"]["application/json"]["schema"])
    item = _resolve(spec, envelope["properties"]["data"]["items"])
    assert sorted(item["required"]) == ["_links", "id"]
    one = spec["paths"]["/v1/books/{book_id}"]["get"]["responses"]["200"]
    assert one["content"]["application/json"]["schema"]["$ref"].endswith("PartialBookEnvelope")
    created = spec["paths"]["/v1/books"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("/BookEnvelope")


def test_country_is_a_pattern_not_an_enum(spec):
    country = _schema(spec, "ShippingAddressInput")["properties"]["country"]
    assert country["pattern"] == "^[A-Z]{2}$" and "enum" not in country
    assert country["description"]


def test_try_it_out_prefills_nothing_that_filters(spec):
    for path, _method, op in _operations(spec):
        for param in op["parameters"]:
            if param["in"] == "query" and not param.get("required"):
                assert "example" not in param and "example" not in param["schema"], (path, param)
    key = next(
        p
        for p in spec["paths"]["/v1/orders"]["post"]["parameters"]
        if p["name"] == "Idempotency-Key"
    )
    assert re.fullmatch(key["schema"]["pattern"], key["example"])
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert "without `Bearer `" in scheme["description"]


def _example(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """The request body Swagger UI pre-fills: examples, else defaults (required and exampled)."""
    schema = _resolve(spec, schema)
    if "example" in schema:
        return schema["example"]
    if schema.get("type") == "array":
        return [_example(spec, schema["items"])]
    if schema.get("type") == "object":
        return {
            name: _example(spec, prop)
            for name, prop in schema["properties"].items()
            if name in schema.get("required", ()) or "example" in _resolve(spec, prop)
        }
    return schema.get("default")


def _request_example(spec: dict[str, Any], path: str, method: str = "post") -> Any:
    content = spec["paths"][path][method]["requestBody"]["content"]["application/json"]
    return _example(spec, content["schema"])


def test_request_examples_succeed_against_the_sample_data(
    app_ctx, client, spec, auth_headers, admin_headers
):
    seed_sample()
    order = _request_example(spec, "/v1/orders")
    headers = {
        param["name"]: param["example"]
        for param in spec["paths"]["/v1/orders"]["post"]["parameters"]
        if param["in"] == "header" and param.get("required")
    }
    placed = client.post("/v1/orders", json=order, headers={**auth_headers, **headers})
    assert placed.status_code == 201, placed.get_data(as_text=True)
    book = _request_example(spec, "/v1/books")
    created = client.post("/v1/books", json=book, headers=admin_headers)
    assert created.status_code == 201, created.get_data(as_text=True)
    for path in ("/v1/authors", "/v1/magazines", "/v1/auth/register"):
        body = _request_example(spec, path)
        response = client.post(path, json=body, headers=admin_headers)
        assert response.status_code == 201, (path, response.get_data(as_text=True))


def test_docs_ui_served_without_external_assets(client):
    html = client.get("/docs").get_data(as_text=True)
    assert "/openapi.json" in html and "http" not in html.split("<body>")[1]
    with client.get("/docs/assets/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200 and b"SwaggerUIBundle" in asset.get_data()


def test_root_sends_browsers_to_the_docs_and_gives_programs_links(client):
    browser = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.status_code == 302 and browser.headers["Location"] == "/docs"
    assert browser.get_data() == b"" and "Accept" in browser.headers["Vary"]
    program = client.get("/", headers={"Accept": "application/json"})
    assert program.status_code == 200
    assert program.get_json()["data"]["_links"] == {
        "api": "/v1",
        "docs": "/docs",
        "openapi": "/openapi.json",
    }
    slash = client.get("/docs/")
    assert slash.status_code == 301 and slash.headers["Location"] == "/docs"
    assert client.get(slash.headers["Location"]).status_code == 200
