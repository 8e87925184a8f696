"""The OpenAPI document: the URL map and each view's recorded edges, through apispec.

Request bodies and responses use the variants of :mod:`bookstore.openapi.variants`;
response headers and error responses are components every operation refers to.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask

from bookstore.openapi.components import (
    BEARER_SCHEME,
    INFO,
    TAGS,
    Components,
    strip_optional_examples,
)
from bookstore.openapi.decorators import COMMON_ERRORS, ERROR_DESCRIPTIONS, F
from bookstore.openapi.envelopes import Error, envelope
from bookstore.openapi.variants import base_name, input_schema, output_schema
from bookstore.version import __version__

_RULE_ARG = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
_CONDITIONAL = {
    "If-Match": "Apply only if the ETag still matches (412 otherwise)",
    "If-None-Match": "A stored ETag: 304 without a body while it still matches",
}


def _path_and_params(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for converter, name in _RULE_ARG.findall(rule):
        kind = {"int": "integer", "float": "number"}.get(converter, "string")
        schema: dict[str, Any] = {"type": kind}
        if kind == "integer":
            schema["minimum"] = 0
        params.append({"in": "path", "name": name, "required": True, "schema": schema})
    return _RULE_ARG.sub(r"{\2}", rule), params


def _conditional(name: str) -> dict[str, Any]:
    return {
        "in": "header",
        "name": name,
        "required": False,
        "schema": {"type": "string"},
        "description": _CONDITIONAL[name],
    }


def _description(summary: str, rest: str, security: str | None) -> str:
    text = rest or f"{summary.rstrip('.')}."
    if security == "required":
        text += "\n\nNeeds a bearer access token."
    elif security == "optional":
        text += "\n\nA bearer access token is optional and may change the result."
    return text


def _success(
    components: Components, doc: dict[str, Any], method: str, sparse: bool
) -> tuple[str, dict[str, Any]]:
    schema, status, desc, many, extra = doc["response"]
    bare = doc.get("bare", False)
    entry: dict[str, Any] = {"description": desc}
    names = dict(extra)
    if schema is not None:
        out = output_schema(schema, sparse=sparse)
        body = out if bare else envelope(out, many)
        entry["content"] = {"application/json": {"schema": body}}
        if method == "get":
            names.setdefault("Cache-Control", "string")
            if not bare:
                names.setdefault("ETag", "string")
        if many:
            names.setdefault("Link", "string")
    entry["headers"] = components.header_refs(names)
    return str(status), entry


def _operation(
    components: Components, view: F, method: str, path_params: list[dict[str, Any]]
) -> dict[str, Any]:
    doc = getattr(view, "_apidoc", {"errors": set()})
    # cleandoc: the docstring's indentation would reach the Markdown of the description.
    summary, _, rest = inspect.cleandoc(view.__doc__ or view.__name__).partition("\n")
    security = doc.get("security")
    op: dict[str, Any] = {
        "summary": summary.strip(),
        "description": _description(summary.strip(), rest.strip(), security),
        "operationId": view.__name__,
        "parameters": list(path_params) + list(doc.get("headers", [])),
        "responses": {},
    }
    query = doc.get("query")
    if query is not None:
        op["parameters"].append({"in": "query", "schema": type(query)})
    if "body" in doc:
        types = ["application/json"] + (
            ["application/merge-patch+json"] if doc["merge_patch"] else []
        )
        body = input_schema(doc["body"])
        op["requestBody"] = {
            "required": doc.get("body_required", True),
            "content": {t: {"schema": body} for t in types},
        }
    errors_ = set(doc["errors"]) | COMMON_ERRORS
    if path_params:
        errors_.add(404)
    if method in ("put", "patch", "delete"):
        errors_.add(412)
        op["parameters"].append(_conditional("If-Match"))
    if "response" in doc:
        if method == "get" and not doc.get("bare", False):
            errors_.add(304)
            op["parameters"].append(_conditional("If-None-Match"))
        sparse = query is not None and "fields" in query.load_fields
        status, entry = _success(components, doc, method, sparse)
        op["responses"][status] = entry
        for also in doc.get("also", ()):
            op["responses"][str(also)] = {**entry, "description": ERROR_DESCRIPTIONS[also]}
    for status in sorted(errors_):
        op["responses"][str(status)] = components.error_ref(status)
    if security == "required":
        op["security"] = [{"bearerAuth": []}]
    elif security == "optional":
        op["security"] = [{}, {"bearerAuth": []}]
    else:
        op["security"] = []
    return op


def _schema_name(schema: Any) -> str:
    return base_name(schema)


def build_spec(app: Flask) -> dict[str, Any]:
    spec = APISpec(
        title="Bookstore API",
        version=__version__,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
        info=INFO,
        servers=[
            {
                "url": app.config["PUBLIC_URL"] or "/",
                "description": "This server (set PUBLIC_URL to name it absolutely)",
            }
        ],
    )
    spec.components.security_scheme("bearerAuth", BEARER_SCHEME)
    spec.components.schema("Error", schema=Error)
    components = Components()
    paths: dict[str, dict[str, Any]] = {}
    used_tags: set[str] = set()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        if rule.endpoint == "static" or getattr(view, "_apidoc_hidden", False):
            continue
        path, params = _path_and_params(rule.rule)
        tag = rule.endpoint.split(".", 1)[0]
        used_tags.add(tag)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op = _operation(components, view, method.lower(), params)
            op["tags"] = [tag]
            paths.setdefault(path, {})[method.lower()] = op
    components.register(spec)
    for name in sorted(used_tags, key=list(TAGS).index):
        spec.tag({"name": name, "description": TAGS[name]})
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return strip_optional_examples(spec.to_dict())
