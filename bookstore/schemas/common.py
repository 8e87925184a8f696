"""Pieces shared by resource schemas."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from bookstore.validation import Msg, Text


class ResourceLinks(Schema):
    self = fields.String(required=True)


class FieldsQuery(Schema):
    """Query parameters of a single-resource ``GET``: sparse fields."""

    fields = Text(max_length=500, metadata={"description": "Comma-separated fields to return"})


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
