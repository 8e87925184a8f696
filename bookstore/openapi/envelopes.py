"""The envelope's own schemas, as the OpenAPI document describes every response."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields


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
