from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate, validates_schema

from bookstore.schemas.author import AuthorSchema
from bookstore.schemas.common import (
    FieldsQuery,
    ListQuery,
    ensure_range,
    include_field,
    non_negative_int,
    sometimes,
)
from bookstore.schemas.fields import ISBN, Money, Text, UTCDateTime, not_in_future_year
from bookstore.schemas.formatting import format_datetime, format_money

YEAR = [validate.Range(1400, 9999), not_in_future_year]


class BookLinks(Schema):
    self = fields.String(required=True)
    author = fields.String(required=True)


class BookSchema(Schema):
    """A book. ISBN-10 input is normalised to ISBN-13; ``price`` is a decimal string."""

    id = fields.Integer(dump_only=True)
    # The examples make a valid request against the sample data (`flask seed`).
    title = Text(required=True, min_length=1, max_length=300, metadata={"example": "Dune"})
    isbn = ISBN(required=True)
    author_id = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(1, 2**31 - 1),
        metadata={"example": 1},
    )
    category = Text(
        required=True, min_length=1, max_length=50, metadata={"example": "science-fiction"}
    )
    publication_year = fields.Integer(
        required=True, strict=True, validate=YEAR, metadata={"example": 1965}
    )
    price = Money(required=True)
    stock = non_negative_int(load_default=0, metadata={"example": 10})
    description = Text(max_length=5000, allow_none=True, load_default=None)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)
    author = fields.Nested(
        AuthorSchema, dump_only=True, metadata=sometimes("Only with `include=author`")
    )
    _links = fields.Nested(BookLinks, dump_only=True, data_key="_links")


class BookPatchSchema(BookSchema):
    """Only the fields sent change (JSON merge patch)."""

    stock = non_negative_int()
    description = Text(max_length=5000, allow_none=True)


class BookQuery(FieldsQuery):
    include = include_field("author")


class BookListQuery(ListQuery):
    category = Text(max_length=50)
    author_id = fields.Integer(validate=validate.Range(1))
    publication_year = fields.Integer(validate=validate.Range(0, 9999))
    year_from = fields.Integer(validate=validate.Range(0, 9999))
    year_to = fields.Integer(validate=validate.Range(0, 9999))
    min_price = Money()
    max_price = Money()
    in_stock = fields.Boolean(metadata={"description": "true: only books with stock > 0"})
    isbn = ISBN()
    q = Text(
        min_length=1,
        max_length=200,
        metadata={"description": "Full-text search over title, description and author name"},
    )
    include = include_field("author")

    @validates_schema
    def _ranges(self, data, **kwargs):
        ensure_range(data, "year_from", "year_to")
        ensure_range(data, "min_price", "max_price")


class AuthorBooksQuery(ListQuery):
    category = Text(max_length=50)


book_schema = BookSchema()
book_patch_schema = BookPatchSchema(partial=True)


def book_to_dict(row: Any) -> dict[str, Any]:
    """Fast dump path, equal to ``book_schema.dump`` (a test holds them together)."""
    return {
        "id": row.id,
        "title": row.title,
        "isbn": row.isbn,
        "author_id": row.author_id,
        "category": row.category,
        "publication_year": row.publication_year,
        "price": format_money(row.price),
        "stock": row.stock,
        "description": row.description,
        "created_at": format_datetime(row.created_at),
        "updated_at": format_datetime(row.updated_at),
        "_links": {"self": f"/v1/books/{row.id}", "author": f"/v1/authors/{row.author_id}"},
    }
