"""Order schemas: what a customer sends to place an order, and what an order looks like."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from bookstore.exceptions import Msg, fail
from bookstore.models.order import STATUSES
from bookstore.schemas.common import ListQuery, ensure_range, sometimes
from bookstore.schemas.countries import COUNTRY_CODES
from bookstore.schemas.fields import Money, Text, UTCDateTime
from bookstore.schemas.formatting import format_datetime, format_money

MAX_LINES = 50
MAX_QUANTITY = 100
_POSTAL_CODE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 \-]*[A-Za-z0-9])?")


def _postal_code(value: str) -> None:
    if not _POSTAL_CODE.fullmatch(value):
        raise fail("INVALID_FORMAT", "Letters, digits, spaces and hyphens only.")


class CountryCode(Text):
    """An ISO 3166-1 alpha-2 code, case-insensitive on input, upper case when stored."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = kwargs.setdefault("metadata", {})
        metadata.setdefault("example", "DE")
        # A pattern, not a 249-value enum: generated clients would make the enum a type.
        metadata.setdefault("pattern", "^[A-Z]{2}$")
        metadata.setdefault(
            "description",
            "ISO 3166-1 alpha-2 country code, e.g. `DE`; unassigned codes are refused (400)",
        )
        super().__init__(min_length=2, max_length=2, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        code = super()._deserialize(value, attr, data, **kwargs).upper()
        if code not in COUNTRY_CODES:
            raise fail("INVALID_CHOICE", "Must be an ISO 3166-1 alpha-2 country code, e.g. DE.")
        return code


class ShippingAddressSchema(Schema):
    """Where the order goes. ``line2`` is optional; ``country`` is ISO 3166-1 alpha-2."""

    name = Text(required=True, min_length=1, max_length=200, metadata={"example": "Ada Lovelace"})
    line1 = Text(
        required=True, min_length=1, max_length=200, metadata={"example": "Unter den Linden 1"}
    )
    line2 = Text(max_length=200, allow_none=True, load_default=None)
    city = Text(required=True, min_length=1, max_length=100, metadata={"example": "Berlin"})
    postal_code = Text(
        required=True,
        min_length=1,
        max_length=20,
        validate=_postal_code,
        metadata={"pattern": f"^{_POSTAL_CODE.pattern}$", "example": "10117"},
    )
    country = CountryCode(required=True)


class OrderLineInput(Schema):
    # Book 1 of the sample data (`flask seed`) is in stock: the example order succeeds.
    book_id = fields.Integer(
        required=True, strict=True, validate=validate.Range(1, 2**31 - 1), metadata={"example": 1}
    )
    quantity = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(1, MAX_QUANTITY),
        metadata={"example": 1},
    )


def _line_count(lines: list[Any]) -> None:
    if not 1 <= len(lines) <= MAX_LINES:
        raise fail("OUT_OF_RANGE", f"An order has 1 to {MAX_LINES} distinct books.")


class OrderCreateSchema(Schema):
    """Books and quantities, and a shipping address. Prices and the total come from the
    catalog, never from the client: ``total``, ``price``, ``status`` or ``user_id`` here are
    unknown fields (400)."""

    items = fields.List(fields.Nested(OrderLineInput), required=True, validate=_line_count)
    shipping_address = fields.Nested(ShippingAddressSchema, required=True)

    @validates_schema
    def _distinct_books(self, data: dict[str, Any], **kwargs: Any) -> None:
        seen: set[int] = set()
        errors: dict[int, dict[str, list[str]]] = {}
        for index, line in enumerate(data.get("items", [])):
            if line["book_id"] in seen:
                message = Msg("DUPLICATE", "Each book may appear once; raise its quantity.")
                errors[index] = {"book_id": [message]}
            seen.add(line["book_id"])
        if errors:
            raise ValidationError({"items": errors})


class OrderLineLinks(Schema):
    book = fields.String(metadata=sometimes("Absent when the book was since deleted"))


class OrderLineSchema(Schema):
    book_id = fields.Integer(allow_none=True)
    title = fields.String(metadata={"description": "The title when the order was placed"})
    isbn = fields.String()
    unit_price = Money(metadata={"description": "The price when the order was placed"})
    quantity = fields.Integer()
    subtotal = Money()
    _links = fields.Nested(OrderLineLinks, data_key="_links")


class OrderLinks(Schema):
    self = fields.String(required=True)
    pay = fields.String(metadata=sometimes("POST here to pay (owner, pending orders)"))
    cancel = fields.String(metadata=sometimes("POST here to cancel (before shipping)"))
    ship = fields.String(metadata=sometimes("POST here to ship (admin, paid orders)"))


class OrderSchema(Schema):
    """An order. ``_links`` lists only the actions the caller may take in its state."""

    id = fields.Integer(dump_only=True)
    user_id = fields.Integer(dump_only=True)
    status = fields.String(dump_only=True, metadata={"enum": list(STATUSES)})
    total = Money(dump_only=True)
    items = fields.List(fields.Nested(OrderLineSchema), dump_only=True)
    shipping_address = fields.Nested(ShippingAddressSchema, dump_only=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)
    paid_at = UTCDateTime(dump_only=True, allow_none=True)
    shipped_at = UTCDateTime(dump_only=True, allow_none=True)
    cancelled_at = UTCDateTime(dump_only=True, allow_none=True)
    expired_at = UTCDateTime(dump_only=True, allow_none=True)
    expires_at = UTCDateTime(
        dump_only=True,
        allow_none=True,
        metadata={"description": "A pending order not paid by then expires (stock returned)"},
    )
    _links = fields.Nested(OrderLinks, dump_only=True, data_key="_links")


class TimeBound(fields.Field):
    """A date (``2026-01-15``) or an ISO 8601 date-time; naive values are UTC.

    A date as the upper bound means the whole of that day.
    """

    def __init__(self, *, upper: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).update(type="string", example="2026-01-15")
        super().__init__(**kwargs)
        self.upper = upper

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.datetime:
        if not isinstance(value, str) or len(value) > 40:
            raise fail("INVALID_FORMAT", "Must be a date or an ISO 8601 date-time.")
        try:
            if len(value) == 10:
                day = dt.date.fromisoformat(value)
                moment = dt.datetime.combine(day, dt.time(), dt.UTC)
                return moment + dt.timedelta(days=1, microseconds=-1) if self.upper else moment
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise fail("INVALID_FORMAT", "Must be a date or an ISO 8601 date-time.") from None
        return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


class OrderListQuery(ListQuery):
    status = fields.String(validate=validate.OneOf(STATUSES))
    user_id = fields.Integer(
        validate=validate.Range(1), metadata={"description": "Admins only (403 for customers)"}
    )
    created_from = TimeBound(metadata={"description": "Placed at or after (date or date-time)"})
    created_to = TimeBound(
        upper=True, metadata={"description": "Placed at or before (a date includes that day)"}
    )

    @validates_schema
    def _ranges(self, data: dict[str, Any], **kwargs: Any) -> None:
        ensure_range(data, "created_from", "created_to")


order_create_schema = OrderCreateSchema()


def line_to_dict(row: Any) -> dict[str, Any]:
    links = {"book": f"/v1/books/{row.book_id}"} if row.book_id is not None else {}
    return {
        "book_id": row.book_id,
        "title": row.title,
        "isbn": row.isbn,
        "unit_price": format_money(row.unit_price),
        "quantity": row.quantity,
        "subtotal": format_money(row.unit_price * row.quantity),
        "_links": links,
    }


def order_to_dict(order: Any, lines: Iterable[Any], actions: Iterable[str] = ()) -> dict[str, Any]:
    """An order row (Core or ORM) and its lines; ``actions`` (what the caller may do next)
    become ``_links``. Without them (a webhook event) the links hold only ``self``.
    """
    self_url = f"/v1/orders/{order.id}"
    links = {"self": self_url}
    for action in actions:
        links[action] = f"{self_url}/{action}"
    return {
        "id": order.id,
        "user_id": order.user_id,
        "status": order.status,
        "total": format_money(order.total),
        "items": [line_to_dict(line) for line in lines],
        "shipping_address": order.shipping_address,
        "created_at": format_datetime(order.created_at),
        "updated_at": format_datetime(order.updated_at),
        "paid_at": format_datetime(order.paid_at),
        "shipped_at": format_datetime(order.shipped_at),
        "cancelled_at": format_datetime(order.cancelled_at),
        "expired_at": format_datetime(order.expired_at),
        "expires_at": format_datetime(order.expires_at),
        "_links": links,
    }
