from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate, validates_schema

from bookstore.schemas.common import ListQuery, ResourceLinks, ensure_range
from bookstore.schemas.fields import Text, UTCDateTime, not_in_future_year
from bookstore.schemas.formatting import format_datetime


class AuthorSchema(Schema):
    """An author. ``bio`` and ``birth_year`` are optional; ``null`` clears them."""

    id = fields.Integer(dump_only=True)
    name = Text(required=True, min_length=1, max_length=200, metadata={"example": "Frank Herbert"})
    bio = Text(max_length=5000, allow_none=True, load_default=None)
    birth_year = fields.Integer(
        strict=True,
        allow_none=True,
        load_default=None,
        validate=[validate.Range(-3000, 9999), not_in_future_year],
    )
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)
    _links = fields.Nested(ResourceLinks, dump_only=True, data_key="_links")


class AuthorPatchSchema(AuthorSchema):
    """Only the fields sent change (JSON merge patch)."""

    bio = Text(max_length=5000, allow_none=True)
    birth_year = fields.Integer(
        strict=True, allow_none=True, validate=[validate.Range(-3000, 9999), not_in_future_year]
    )


class AuthorListQuery(ListQuery):
    name = Text(max_length=200, metadata={"description": "Case-insensitive substring of the name"})
    born_from = fields.Integer(validate=validate.Range(-3000, 9999))
    born_to = fields.Integer(validate=validate.Range(-3000, 9999))
    q = Text(min_length=1, max_length=200, metadata={"description": "Search name and bio"})

    @validates_schema
    def _ranges(self, data, **kwargs):
        ensure_range(data, "born_from", "born_to")


author_schema = AuthorSchema()
author_patch_schema = AuthorPatchSchema(partial=True)


def author_to_dict(row: Any) -> dict[str, Any]:
    """Fast dump path, equal to ``author_schema.dump`` (a test holds them together)."""
    return {
        "id": row.id,
        "name": row.name,
        "bio": row.bio,
        "birth_year": row.birth_year,
        "created_at": format_datetime(row.created_at),
        "updated_at": format_datetime(row.updated_at),
        "_links": {"self": f"/v1/authors/{row.id}"},
    }
