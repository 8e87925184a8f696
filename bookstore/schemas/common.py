"""Pieces shared by resource schemas."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from bookstore.exceptions import Msg, fail
from bookstore.schemas.fields import Text

FIELDS_DESCRIPTION = "Comma-separated fields to return; `id` and `_links` always are"
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000


# Field metadata: the field is absent from some responses (the document leaves it optional).
SOMETIMES = "sometimes_absent"


def sometimes(description: str) -> dict[str, Any]:
    return {"description": description, SOMETIMES: True}


class ResourceLinks(Schema):
    self = fields.String(required=True)


class FieldsQuery(Schema):
    """Query parameters of a single-resource ``GET``: sparse fields."""

    fields = Text(max_length=500, metadata={"description": FIELDS_DESCRIPTION})


def include_field(*allowed: str) -> fields.String:
    return fields.String(
        validate=validate.OneOf(allowed),
        metadata={"description": f"Embed a related resource: {', '.join(allowed)}"},
    )


def non_negative_int(maximum: int = 2_147_483_647, **kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(0, maximum), **kwargs)


def ensure_range(data: dict[str, Any], low: str, high: str) -> None:
    if low in data and high in data and data[low] > data[high]:
        message = Msg("INVALID_RANGE", f"Must not be less than {low}.")
        raise ValidationError(message, field_name=high)


class ListQuery(Schema):
    """Query parameters every collection accepts; resources add their filters."""

    page = fields.Integer(
        validate=validate.Range(1, MAX_PAGE), metadata={"description": "1-based page number"}
    )
    per_page = fields.Integer(
        load_default=DEFAULT_PER_PAGE,
        validate=validate.Range(1, MAX_PER_PAGE),
        metadata={"description": f"Page size, 1-{MAX_PER_PAGE} (default {DEFAULT_PER_PAGE})"},
    )
    cursor = Text(
        max_length=2000, metadata={"description": "Opaque keyset cursor from `next_cursor`"}
    )
    sort = Text(max_length=200, metadata={"description": "Comma-separated fields, `-` for desc"})
    fields = Text(max_length=500, metadata={"description": FIELDS_DESCRIPTION})

    @validates_schema
    def _page_or_cursor(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "page" in data and "cursor" in data:
            raise ValidationError(
                {"cursor": [fail("CONFLICT", "Use either page or cursor, not both.")]}
            )
