"""Declarative view edges and the OpenAPI document built from them.

The decorators here parse and validate input with marshmallow schemas and record what a
view accepts and returns; :func:`build_spec` walks the URL map and turns those records
into OpenAPI 3 through apispec, so the spec cannot drift from the routes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, request
from marshmallow import RAISE, Schema, ValidationError, fields, missing

from bookstore.errors import HTTP_CODES, InvalidQuery
from bookstore.http import current_request, json_body
from bookstore.validation import marshmallow_details

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
REQUIRED_HEADERS = frozenset(
    {"X-Request-ID", "ETag", "Cache-Control", "Link", "Location", "WWW-Authenticate", "Retry-After"}
)


def _doc(fn: F) -> dict[str, Any]:
    return fn.__dict__.setdefault("_apidoc", {"errors": set()})


def _instance(schema: type[Schema] | Schema) -> Schema:
    return schema() if isinstance(schema, type) else schema


QUERY_LOADERS_KEPT = 256  # per view: one schema per combination of parameters seen


def query(schema: type[Schema] | Schema) -> Callable[[F], F]:
    """Parse ``request.args`` with ``schema``; the view receives ``query=``. 400 on errors.

    marshmallow visits every field of a schema on every load, present or not: a list's
    query schema has sixteen and a request names two or three. So each combination of
    parameters gets its own copy of the schema limited to them (``only=``), plus the
    fields that are required or have a default; it validates exactly what the whole
    schema would. A parameter the schema does not know goes to the whole schema, which
    names it in its error.
    """
    loader = _instance(schema)
    loader.unknown = RAISE
    empty: list[dict[str, Any]] = []  # what an empty query string loads as, once known
    names = {field.data_key or name: name for name, field in loader.load_fields.items()}
    always = frozenset(
        name
        for name, field in loader.load_fields.items()
        if field.required or field.load_default is not missing
    )
    loaders: dict[frozenset[str], Schema] = {}

    def loader_for(args: dict[str, str]) -> Schema:
        keys = frozenset(args)
        found = loaders.get(keys)
        if found is None:
            if not keys <= names.keys():
                return loader
            if len(loaders) >= QUERY_LOADERS_KEPT:
                loaders.clear()
            only = always | {names[key] for key in keys}
            found = loaders[keys] = type(loader)(only=only, unknown=RAISE)
        return found

    def load(args: dict[str, str]) -> dict[str, Any]:
        try:
            return loader_for(args).load(args)
        except ValidationError as exc:
            raise InvalidQuery(details=marshmallow_details(exc)) from None

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            req = current_request()
            if req.environ.get("QUERY_STRING"):
                parsed = load(req.args.to_dict(flat=True))
            else:
                # Most reads have no query string: load it once, hand out copies.
                if not empty:
                    empty.append(load({}))
                parsed = dict(empty[0])
            return view(*args, query=parsed, **kwargs)

        doc = _doc(wrapper)
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

        doc = _doc(wrapper)
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
    """Document the success response (the view builds it through ``bookstore.http``).

    ``bare``: the body is ``schema`` itself, without the ``data``/``meta`` envelope and
    without an ETag (health checks). ``also``: other statuses answered with the same body
    instead of the error envelope (``/health/ready``'s 503).
    """

    def decorator(view: F) -> F:
        doc = _doc(view)
        doc["response"] = (schema, status, description, many, dict(headers or {}))
        doc["bare"] = bare
        doc["also"] = also
        return view

    return decorator


def errors(*statuses: int) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        _doc(view)["errors"].update(statuses)
        return view

    return decorator


def header(
    name: str, description: str, *, required: bool = False, pattern: str | None = None
) -> Callable[[F], F]:
    """Document a request header the view reads (``Idempotency-Key``)."""

    def decorator(view: F) -> F:
        param = {
            "in": "header",
            "name": name,
            "required": required,
            "schema": {"type": "string", **({"pattern": pattern} if pattern else {})},
            "description": description,
        }
        _doc(view).setdefault("headers", []).append(param)
        return view

    return decorator


def security(requirement: str) -> Callable[[F], F]:
    """``"required"`` (bearer token needed) or ``"optional"``; set by the auth decorators."""

    def decorator(view: F) -> F:
        doc = _doc(view)
        doc["security"] = requirement
        if requirement == "required":
            doc["errors"].update({401, 403})
        return view

    return decorator


# -- spec ------------------------------------------------------------------------------

_RULE_ARG = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


class ErrorDetail(Schema):
    field = fields.String(required=True)
    code = fields.String(required=True)
    message = fields.String(required=True)


class ErrorBody(Schema):
    status = fields.Integer(required=True)
    code = fields.String(required=True, metadata={"example": "VALIDATION_ERROR"})
    message = fields.String(required=True)
    details = fields.List(
        fields.Nested(ErrorDetail),
        required=True,
        metadata={"maxItems": 100, "description": "At most 100; the message says if cut"},
    )
    request_id = fields.String(required=True)


class Error(Schema):
    error = fields.Nested(ErrorBody, required=True)


class Meta(Schema):
    request_id = fields.String(required=True)


class Pagination(Schema):
    page = fields.Integer(allow_none=True, required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(
        allow_none=True,
        required=True,
        metadata={
            "description": "Matching items; null on cursor pages. Counted exactly up to "
            "`PAGINATION_COUNT_LIMIT` (1,000 by default); beyond that it is the database's "
            "estimate and `links.last` is null"
        },
    )
    total_pages = fields.Integer(allow_none=True, required=True)
    next_cursor = fields.String(allow_none=True, required=True)
    prev_cursor = fields.String(allow_none=True, required=True)


class Links(Schema):
    self = fields.String(required=True)
    first = fields.String(allow_none=True, required=True)
    prev = fields.String(allow_none=True, required=True)
    next = fields.String(allow_none=True, required=True)
    last = fields.String(allow_none=True, required=True)


_envelopes: dict[tuple[str, bool], type[Schema]] = {}


def envelope(schema: type[Schema] | Schema, many: bool) -> type[Schema]:
    """``{"data": X, "meta"}`` or ``{"data": [X], "pagination", "links", "meta"}``."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    key = (name, many)
    if key not in _envelopes:
        data = fields.List(fields.Nested(cls)) if many else fields.Nested(cls)
        attrs: dict[str, Any] = {"data": data, "meta": fields.Nested(Meta, required=True)}
        if many:
            attrs["pagination"] = fields.Nested(Pagination, required=True)
            attrs["links"] = fields.Nested(Links, required=True)
        attrs["data"].required = True
        _envelopes[key] = type(f"{name}{'List' if many else 'Envelope'}", (Schema,), attrs)
    return _envelopes[key]


def _path_and_params(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for converter, name in _RULE_ARG.findall(rule):
        kind = {"int": "integer", "float": "number"}.get(converter, "string")
        schema: dict[str, Any] = {"type": kind}
        if kind == "integer":
            schema["minimum"] = 0
        params.append({"in": "path", "name": name, "required": True, "schema": schema})
    return _RULE_ARG.sub(r"{\2}", rule), params


def _error_response(status: int) -> dict[str, Any]:
    if status == 304:
        return {"description": ERROR_DESCRIPTIONS[304], "headers": _headers({"ETag": "string"})}
    names = {}
    if status == 401:
        names["WWW-Authenticate"] = "string"
    if status in (429, 503):
        names["Retry-After"] = "integer"
    description = ERROR_DESCRIPTIONS.get(status) or HTTP_CODES.get(status, ("", "Error"))[1]
    return {
        "description": description,
        "headers": _headers(names),
        "content": {"application/json": {"schema": "Error"}},
    }


def _headers(names: Mapping[str, str]) -> dict[str, Any]:
    out = {name: _header(name, spec) for name, spec in COMMON_HEADERS.items()}
    for name, kind in names.items():
        out[name] = _header(name, {"schema": {"type": kind}})
    return out


def _header(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {**spec, "required": True} if name in REQUIRED_HEADERS else spec


def _operation(view: F, method: str, path_params: list[dict[str, Any]]) -> dict[str, Any]:
    doc = getattr(view, "_apidoc", {"errors": set()})
    summary, _, description = (view.__doc__ or view.__name__).strip().partition("\n")
    op: dict[str, Any] = {
        "summary": summary.strip(),
        "operationId": view.__name__,
        "parameters": list(path_params),
        "responses": {},
    }
    if description.strip():
        op["description"] = description.strip()
    op["parameters"].extend(doc.get("headers", []))
    if "query" in doc:
        op["parameters"].append({"in": "query", "schema": type(doc["query"])})
    if "body" in doc:
        types = ["application/json"] + (
            ["application/merge-patch+json"] if doc["merge_patch"] else []
        )
        op["requestBody"] = {
            "required": doc.get("body_required", True),
            "content": {t: {"schema": type(doc["body"])} for t in types},
        }
    errors_ = set(doc["errors"]) | COMMON_ERRORS
    bare = doc.get("bare", False)
    if path_params:
        errors_.add(404)
    if method in ("put", "patch", "delete"):
        errors_.add(412)
        op["parameters"].append(
            {
                "in": "header",
                "name": "If-Match",
                "required": False,
                "schema": {"type": "string"},
                "description": "Apply only if the ETag still matches",
            }
        )
    if method == "get" and "response" in doc and not bare:
        errors_.add(304)
        op["parameters"].append(
            {
                "in": "header",
                "name": "If-None-Match",
                "required": False,
                "schema": {"type": "string"},
            }
        )
    if "response" in doc:
        schema, status, desc, many, extra = doc["response"]
        entry: dict[str, Any] = {"description": desc}
        names = dict(extra)
        if schema is not None:
            body = schema if bare else envelope(schema, many)
            entry["content"] = {"application/json": {"schema": body}}
            if method == "get":
                names.setdefault("Cache-Control", "string")
                if not bare:
                    names.setdefault("ETag", "string")
            if many:
                names.setdefault("Link", "string")
        entry["headers"] = _headers(names)
        op["responses"][str(status)] = entry
    for status in sorted(errors_):
        op["responses"][str(status)] = _error_response(status)
    for status in doc.get("also", ()):
        op["responses"][str(status)] = {
            "description": ERROR_DESCRIPTIONS[status],
            "headers": entry["headers"],
            "content": entry["content"],
        }
    security_ = doc.get("security")
    if security_ == "required":
        op["security"] = [{"bearerAuth": []}]
    elif security_ == "optional":
        op["security"] = [{}, {"bearerAuth": []}]
    else:
        op["security"] = []
    return op


def build_spec(app: Flask) -> dict[str, Any]:
    spec = APISpec(
        title="Bookstore API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "Catalog, accounts, orders and webhooks. See the README."},
    )
    spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    spec.components.schema("Error", schema=Error)
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        if rule.endpoint == "static" or getattr(view, "_apidoc_hidden", False):
            continue
        path, params = _path_and_params(rule.rule)
        tag = rule.endpoint.split(".", 1)[0]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op = _operation(view, method.lower(), params)
            op["tags"] = [tag]
            paths.setdefault(path, {})[method.lower()] = op
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def hidden(view: F) -> F:
    """Keep a route (docs assets) out of the spec."""
    view._apidoc_hidden = True  # type: ignore[attr-defined]
    return view
