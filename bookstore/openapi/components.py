"""The document's shared parts: info, tags, the security scheme, headers and error responses.

Every response refers to its headers and every error to its response by ``$ref``, so each
is written once in ``components`` instead of once per operation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from apispec import APISpec

from bookstore.exceptions import HTTP_CODES
from bookstore.openapi.decorators import COMMON_HEADERS, ERROR_DESCRIPTIONS, REQUIRED_HEADERS

INFO = {
    "description": (
        "Catalog (books, authors, magazines), accounts, orders and webhooks.\n\n"
        "Every response body is JSON: a resource in `data` with `meta`, a page of them with "
        "`pagination` and `links`, or an error in `error`. Log in with `POST /v1/auth/login` "
        "and send the access token as `Authorization: Bearer <token>`."
    ),
    "contact": {"name": "Bookstore API maintainers", "url": "https://example.org/bookstore"},
    "license": {"name": "MIT", "url": "https://opensource.org/licenses/MIT"},
}
TAGS = {
    "root": "The API root, health checks",
    "auth": "Registration, login, token refresh and logout",
    "users": "Accounts: your own profile; every account for admins",
    "authors": "Catalog: authors (public reads, admin writes)",
    "books": "Catalog: books, with filters, full-text search and sparse fields",
    "magazines": "Catalog: magazine issues",
    "orders": "Placing, paying, cancelling and shipping orders",
    "webhooks": "Webhook subscriptions (admin)",
    "webhook_deliveries": "Webhook deliveries, their attempts and redelivery (admin)",
}
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": (
        "The `access_token` from `POST /v1/auth/login` (or `/v1/auth/refresh`). In "
        "Swagger UI's Authorize dialog paste the token alone, without `Bearer `."
    ),
}
HEADER_DESCRIPTIONS = {
    "ETag": "Entity tag of the representation, for `If-None-Match` and `If-Match`",
    "Cache-Control": "How long and by whom the response may be cached",
    "Link": "RFC 8288 links to the first, previous, next and last pages",
    "Location": "URL of the created resource",
    "WWW-Authenticate": "The `Bearer` challenge, with the error when a token was refused",
    "Retry-After": "Seconds to wait before trying again",
    "Idempotent-Replayed": "`true` when this replays the outcome of an earlier request "
    "with the same `Idempotency-Key`",
}


def _component_name(status: int) -> str:
    return "".join(word.capitalize() for word in re.split(r"\W+", HTTPStatus(status).phrase))


class Components:
    """Collects the headers and error responses operations use, then registers them."""

    def __init__(self) -> None:
        self.headers: dict[str, dict[str, Any]] = {}
        self.responses: dict[str, dict[str, Any]] = {}

    def _header(self, name: str, kind: str | None = None) -> dict[str, str]:
        if name not in self.headers:
            spec = dict(COMMON_HEADERS.get(name) or {"schema": {"type": kind or "string"}})
            spec.setdefault("description", HEADER_DESCRIPTIONS.get(name, name))
            if name in REQUIRED_HEADERS:
                spec["required"] = True
            self.headers[name] = spec
        return {"$ref": f"#/components/headers/{name}"}

    def header_refs(self, names: Mapping[str, str]) -> dict[str, Any]:
        refs = {name: self._header(name) for name in COMMON_HEADERS}
        for name, kind in names.items():
            refs[name] = self._header(name, kind)
        return refs

    def error_ref(self, status: int) -> dict[str, str]:
        name = _component_name(status)
        if name not in self.responses:
            self.responses[name] = self._error_response(status)
        return {"$ref": f"#/components/responses/{name}"}

    def _error_response(self, status: int) -> dict[str, Any]:
        if status == 304:
            headers = self.header_refs({"ETag": "string"})
            return {"description": ERROR_DESCRIPTIONS[304], "headers": headers}
        names = {}
        if status == 401:
            names["WWW-Authenticate"] = "string"
        if status in (429, 503):
            names["Retry-After"] = "integer"
        description = ERROR_DESCRIPTIONS.get(status) or HTTP_CODES.get(status, ("", "Error"))[1]
        return {
            "description": description,
            "headers": self.header_refs(names),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }

    def register(self, spec: APISpec) -> None:
        for name in sorted(self.headers):
            spec.components.header(name, self.headers[name])
        for name in sorted(self.responses):
            spec.components.response(name, self.responses[name])


def strip_optional_examples(document: dict[str, Any]) -> dict[str, Any]:
    """Optional query filters carry no example: Swagger UI would send it as a filter."""
    for operations in document["paths"].values():
        for op in operations.values():
            for param in op.get("parameters", ()):
                if param.get("in") == "query" and not param.get("required"):
                    param.pop("example", None)
                    param.get("schema", {}).pop("example", None)
    return document
