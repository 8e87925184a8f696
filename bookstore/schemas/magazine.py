from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate, validates_schema

from bookstore.schemas.common import ListQuery, ResourceLinks, ensure_range, non_negative_int
from bookstore.schemas.fields import ISSN, Money, Text, UTCDateTime, not_in_future_date
from bookstore.schemas.formatting import format_datetime, format_money

ISSUE_NUMBER = validate.Range(1, 2_147_483_647)


class MagazineSchema(Schema):
    """One issue of a magazine. The ISSN names the serial; (issn, issue_number) is unique."""

    id = fields.Integer(dump_only=True)
    title = Text(required=True, min_length=1, max_length=300, metadata={"example": "Analog"})
    issn = ISSN(required=True)
    publisher = Text(
        required=True, min_length=1, max_length=200, metadata={"example": "Dell Magazines"}
    )
    issue_number = fields.Integer(
        required=True, strict=True, validate=ISSUE_NUMBER, metadata={"example": 1}
    )
    publication_date = fields.Date(
        required=True,
        validate=not_in_future_date,
        metadata={
            "description": "Date of the issue, YYYY-MM-DD, not in the future (UTC)",
            "example": "2024-01-15",
        },
    )
    category = Text(required=True, min_length=1, max_length=50, metadata={"example": "science"})
    price = Money(required=True)
    stock = non_negative_int(load_default=0)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)
    _links = fields.Nested(ResourceLinks, dump_only=True, data_key="_links")


class MagazinePatchSchema(MagazineSchema):
    """Only the fields sent change (JSON merge patch); every field refuses ``null``."""

    stock = non_negative_int()


class MagazineListQuery(ListQuery):
    category = Text(max_length=50)
    issn = ISSN(metadata={"description": "Every issue of one serial"})
    publisher = Text(max_length=200, metadata={"description": "Exact publisher name"})
    min_price = Money()
    max_price = Money()
    in_stock = fields.Boolean(metadata={"description": "true: only issues with stock > 0"})
    date_from = fields.Date(metadata={"description": "Published on or after, YYYY-MM-DD"})
    date_to = fields.Date(metadata={"description": "Published on or before, YYYY-MM-DD"})
    q = Text(
        min_length=1,
        max_length=200,
        metadata={"description": "Case-insensitive substring of the title or publisher"},
    )

    @validates_schema
    def _ranges(self, data, **kwargs):
        ensure_range(data, "min_price", "max_price")
        ensure_range(data, "date_from", "date_to")


magazine_schema = MagazineSchema()
magazine_patch_schema = MagazinePatchSchema(partial=True)


def magazine_to_dict(row: Any) -> dict[str, Any]:
    """Fast dump path, equal to ``magazine_schema.dump`` (a test holds them together)."""
    return {
        "id": row.id,
        "title": row.title,
        "issn": row.issn,
        "publisher": row.publisher,
        "issue_number": row.issue_number,
        "publication_date": row.publication_date.isoformat(),
        "category": row.category,
        "price": format_money(row.price),
        "stock": row.stock,
        "created_at": format_datetime(row.created_at),
        "updated_at": format_datetime(row.updated_at),
        "_links": {"self": f"/v1/magazines/{row.id}"},
    }
