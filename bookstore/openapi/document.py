"""The OpenAPI document: the URL map and each view's recorded edges, through apispec."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask

from bookstore.exceptions import HTTP_CODES
from bookstore.openapi.decorators import (
    COMMON_ERRORS,
    COMMON_HEADERS,
    ERROR_DESCRIPTIONS,
    REQUIRED_HEADERS,
    F,
)
from bookstore.openapi.envelopes import Error, envelope

_RULE_ARG = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


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
