"""Declarative view edges and the OpenAPI document built from them.

The decorators here parse and validate input with marshmallow schemas and record what a
view accepts and returns; :func:`build_spec` walks the URL map and turns those records
into OpenAPI 3 through apispec, so the spec cannot drift from the routes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from flask import Request, request
from marshmallow import RAISE, Schema, ValidationError

from bookstore.exceptions import InvalidQuery, marshmallow_details
from bookstore.web.requests import json_body

F = Callable[..., Any]

# Response headers every operation may carry; other modules extend this (rate limits).
COMMON_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "Request id, echoed from the client or generated",
        "schema": {"type": "string"},
    },
}
ERROR_DESCRIPTIONS = {
    304: "Not modified: `If-None-Match` matched the current ETag",
    400: "Invalid input (`VALIDATION_ERROR`, `INVALID_JSON`, `INVALID_QUERY_PARAMETER`)",
    401: "Missing or invalid credentials",
    403: "Authenticated but not allowed",
    404: "Resource not found",
    409: "Conflict with the current state",
    412: "`If-Match` does not match the current ETag",
    413: "Body larger than the configured limit",
    414: "Request line (path and query string) over 8190 bytes, refused by the HTTP server",
    415: "Body is not `application/json`",
    422: "Idempotency key reused with a different request",
    429: "Rate limit exceeded",
    431: "Too many request headers (over 100) or one over 8190 bytes, refused by the HTTP server",
    500: "Unexpected error",
    503: "A dependency is unavailable",
}
# Any operation can answer these: server limits, rate limits, faults and outages.
COMMON_ERRORS = frozenset({414, 429, 431, 500, 503})
# Documented headers that are sent on every response they are documented for.
# Examples for request headers that the views declaring them leave without one.
HEADER_EXAMPLES = {"Idempotency-Key": "0b6f2a4e-3c1d-4e8b-9f7a-5d2c8e1b4a90"}
REQUIRED_HEADERS = frozenset(
    {"X-Request-ID", "ETag", "Cache-Control", "Link", "Location", "WWW-Authenticate", "Retry-After"}
)


def view_doc(fn: F) -> dict[str, Any]:
    return fn.__dict__.setdefault("_apidoc", {"errors": set()})


def _instance(schema: type[Schema] | Schema) -> Schema:
    return schema() if isinstance(schema, type) else schema


_LOADED_QUERY = "bookstore.openapi.query"  # environ: (schema, its result or ValidationError)


def load_query(req: Request, loader: Schema) -> dict[str, Any]:
    """``req.args`` loaded with the view's query schema, once a request: the response
    cache keys a read on the values the view then receives. Raises ValidationError."""
    found = req.environ.get(_LOADED_QUERY)
    if found is None or found[0] is not loader:
        try:
            found = (loader, loader.load(req.args.to_dict(flat=True)))
        except ValidationError as exc:
            found = (loader, exc)
        req.environ[_LOADED_QUERY] = found
    if isinstance(found[1], ValidationError):
        raise found[1]
    return dict(found[1])


def query(schema: type[Schema] | Schema) -> Callable[[F], F]:
    """Parse ``request.args`` with ``schema``; the view receives ``query=``. 400 on errors."""
    loader = _instance(schema)
    loader.unknown = RAISE
    empty: list[dict[str, Any]] = []  # what an empty query string loads as, once known

    def load(req: Request) -> dict[str, Any]:
        try:
            return load_query(req, loader)
        except ValidationError as exc:
            raise InvalidQuery(details=marshmallow_details(exc)) from None

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            req = request
            if req.environ.get("QUERY_STRING"):
                parsed = load(req)
            else:
                # Most reads have no query string: load it once, hand out copies.
                if not empty:
                    empty.append(load(req))
                parsed = dict(empty[0])
            return view(*args, query=parsed, **kwargs)

        doc = view_doc(wrapper)
        doc["query"] = loader
        doc["errors"].add(400)
        return wrapper

    return decorator


def body(
    schema: type[Schema] | Schema, *, merge_patch: bool = False, optional: bool = False
) -> Callable[[F], F]:
    """Parse the JSON body with ``schema``; the view receives ``body=``.

    With ``optional=True`` an empty body is accepted and loaded as ``{}``.
    """
    loader = _instance(schema)

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if optional and not request.get_data(cache=True):
                payload: dict[str, Any] = {}
            else:
                payload = json_body(merge_patch=merge_patch)
            return view(*args, body=loader.load(payload), **kwargs)

        doc = view_doc(wrapper)
        doc["body"] = loader
        doc["merge_patch"] = merge_patch
        doc["body_required"] = not optional
        doc["errors"].update({400, 413, 415})
        return wrapper

    return decorator


def response(
    schema: type[Schema] | Schema | None,
    status: int = 200,
    *,
    description: str = "Success",
    many: bool = False,
    headers: Mapping[str, str] | None = None,
    bare: bool = False,
    also: tuple[int, ...] = (),
) -> Callable[[F], F]:
    """Document the success response (the view builds it through ``bookstore.web.responses``).

    ``bare``: the body is ``schema`` itself, without the ``data``/``meta`` envelope and
    without an ETag (health checks). ``also``: other statuses answered with the same body
    instead of the error envelope (``/health/ready``'s 503).
    """

    def decorator(view: F) -> F:
        doc = view_doc(view)
        doc["response"] = (schema, status, description, many, dict(headers or {}))
        doc["bare"] = bare
        doc["also"] = also
        return view

    return decorator


def errors(*statuses: int) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        view_doc(view)["errors"].update(statuses)
        return view

    return decorator


def header(
    name: str,
    description: str,
    *,
    required: bool = False,
    pattern: str | None = None,
    example: str | None = None,
) -> Callable[[F], F]:
    """Document a request header the view reads (``Idempotency-Key``)."""
    example = example or HEADER_EXAMPLES.get(name)

    def decorator(view: F) -> F:
        param: dict[str, Any] = {
            "in": "header",
            "name": name,
            "required": required,
            "schema": {"type": "string", **({"pattern": pattern} if pattern else {})},
            "description": description,
        }
        if example:
            param["example"] = example
        view_doc(view).setdefault("headers", []).append(param)
        return view

    return decorator


def security(requirement: str) -> Callable[[F], F]:
    """``"required"`` (bearer token needed) or ``"optional"``; set by the auth decorators."""

    def decorator(view: F) -> F:
        doc = view_doc(view)
        doc["security"] = requirement
        if requirement == "required":
            doc["errors"].update({401, 403})
        return view

    return decorator


# -- spec ------------------------------------------------------------------------------


def hidden(view: F) -> F:
    """Keep a route (docs assets) out of the spec."""
    view._apidoc_hidden = True  # type: ignore[attr-defined]
    return view
