"""Offset and keyset pagination, sorting and sparse fields: one implementation for every list.

A list view builds an unexecuted ``select()`` with its filters and hands it to
:func:`paginate`, which applies sort, cursor or offset, limit and count, and returns the
rows with the ``pagination`` and ``links`` parts of the envelope.

Cursors are ``base64url(payload).base64url(hmac)``: opaque, tamper-evident, and they hold
the sort key values of the boundary row, so a page costs the same at any depth.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from flask import current_app, request
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import ColumnElement, Select, and_, func, or_, select, tuple_

from bookstore.errors import InvalidQuery
from bookstore.extensions import db
from bookstore.http import url_with
from bookstore.validation import Text, fail

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000


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
    fields = Text(max_length=500, metadata={"description": "Comma-separated fields to return"})

    @validates_schema
    def _page_or_cursor(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "page" in data and "cursor" in data:
            raise ValidationError(
                {"cursor": [fail("CONFLICT", "Use either page or cursor, not both.")]}
            )


@dataclass(frozen=True)
class ListSpec:
    """What a collection may be sorted by, and which fields it can return."""

    sortable: Mapping[str, ColumnElement[Any]]
    fields: Sequence[str]
    default_sort: str = "id"
    always: tuple[str, ...] = ("id", "_links")


@dataclass
class Page:
    rows: list[Any]
    pagination: dict[str, Any]
    links: dict[str, str | None]
    fields: set[str] | None = field(default=None)


# -- sort and fields -----------------------------------------------------------------


def parse_sort(raw: str | None, spec: ListSpec) -> list[tuple[str, bool]]:
    """``-price,title`` -> ``[("price", True), ("title", False), ("id", False)]``."""
    keys: list[tuple[str, bool]] = []
    for part in (raw or spec.default_sort).split(","):
        name = part.strip()
        desc = name.startswith("-")
        name = name.lstrip("-+")
        if name not in spec.sortable:
            allowed = ", ".join(sorted(spec.sortable))
            raise InvalidQuery(
                details=[
                    {
                        "field": "sort",
                        "code": "INVALID_CHOICE",
                        "message": f"Cannot sort by {name!r}; allowed: {allowed}.",
                    }
                ]
            )
        if any(existing == name for existing, _ in keys):
            continue
        keys.append((name, desc))
    if not any(name == "id" for name, _ in keys):
        keys.append(("id", keys[-1][1] if keys else False))
    return keys


def sort_string(keys: Sequence[tuple[str, bool]]) -> str:
    return ",".join(("-" if desc else "") + name for name, desc in keys)


def parse_fields(raw: str | None, spec: ListSpec) -> set[str] | None:
    if not raw:
        return None
    wanted = {part.strip() for part in raw.split(",") if part.strip()}
    unknown = wanted - set(spec.fields)
    if unknown:
        raise InvalidQuery(
            details=[
                {
                    "field": "fields",
                    "code": "INVALID_CHOICE",
                    "message": f"Unknown fields: {', '.join(sorted(unknown))}.",
                }
            ]
        )
    return wanted | set(spec.always)


def select_fields(item: dict[str, Any], wanted: set[str] | None) -> dict[str, Any]:
    if wanted is None:
        return item
    return {key: value for key, value in item.items() if key in wanted}


# -- cursors -------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(payload: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, b"cursor:" + payload.encode(), hashlib.sha256).digest()
    return _b64(digest[:16])


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def encode_cursor(sort: str, values: Sequence[Any], direction: str) -> str:
    payload = _b64(orjson.dumps({"s": sort, "v": [_plain(v) for v in values], "d": direction}))
    return f"{payload}.{_signature(payload)}"


def _bad_cursor(message: str = "The cursor is malformed or was tampered with.") -> InvalidQuery:
    return InvalidQuery(details=[{"field": "cursor", "code": "INVALID_CURSOR", "message": message}])


def decode_cursor(cursor: str, spec: ListSpec) -> tuple[list[tuple[str, bool]], list[Any], str]:
    try:
        payload, signature = cursor.split(".", 1)
        if not hmac.compare_digest(signature, _signature(payload)):
            raise _bad_cursor()
        data = orjson.loads(_unb64(payload))
        keys = parse_sort(data["s"], spec)
        raw_values, direction = data["v"], data["d"]
    except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise _bad_cursor() from None
    if direction not in ("n", "p") or not isinstance(raw_values, list):
        raise _bad_cursor()
    if len(raw_values) != len(keys):
        raise _bad_cursor()
    values = [
        _typed(spec.sortable[name], value)
        for (name, _), value in zip(keys, raw_values, strict=True)
    ]
    return keys, values, direction


def _typed(column: ColumnElement[Any], value: Any) -> Any:
    try:
        kind = column.type.python_type
        if kind is Decimal:
            return Decimal(value)
        if kind is dt.datetime:
            return dt.datetime.fromisoformat(value)
        if kind is dt.date:
            return dt.date.fromisoformat(value)
        if kind is int and not isinstance(value, bool):
            return int(value)
        if kind is str and isinstance(value, str):
            return value
    except (ValueError, TypeError, ArithmeticError):
        pass
    raise _bad_cursor()


# -- queries -------------------------------------------------------------------------


def _order(spec: ListSpec, keys: Sequence[tuple[str, bool]], flip: bool) -> list[Any]:
    return [
        spec.sortable[name].desc() if desc != flip else spec.sortable[name].asc()
        for name, desc in keys
    ]


def _after(spec: ListSpec, keys: Sequence[tuple[str, bool]], values: Sequence[Any], flip: bool):
    """Rows strictly after ``values`` in the (possibly flipped) sort order."""
    columns = [spec.sortable[name] for name, _ in keys]
    descs = [desc != flip for _, desc in keys]
    if all(descs) or not any(descs):
        # A row-value comparison lets the database walk one composite index.
        left, right = tuple_(*columns), tuple_(*values)
        return left < right if descs[0] else left > right
    clauses = []
    for i, column in enumerate(columns):
        equal = [columns[j] == values[j] for j in range(i)]
        step = column < values[i] if descs[i] else column > values[i]
        clauses.append(and_(*equal, step))
    return or_(*clauses)


def _row_values(row: Any, keys: Sequence[tuple[str, bool]]) -> list[Any]:
    mapping = row._mapping
    return [mapping[name] for name, _ in keys]


def paginate(stmt: Select[Any], args: Mapping[str, Any], spec: ListSpec, path: str) -> Page:
    """Run ``stmt`` for one page; three statements at most whatever the page size."""
    per_page = args["per_page"]
    wanted = parse_fields(args.get("fields"), spec)
    params = {k: v for k, v in request.args.items() if k not in ("page", "cursor")}
    params["per_page"] = per_page

    if args.get("cursor"):
        keys, values, direction = decode_cursor(args["cursor"], spec)
        if args.get("sort") and parse_sort(args["sort"], spec) != keys:
            raise _bad_cursor("The cursor was issued for a different sort order.")
        flip = direction == "p"
        query = stmt.where(_after(spec, keys, values, flip)).order_by(*_order(spec, keys, flip))
        rows = list(db.session.execute(query.limit(per_page + 1)))
        more = len(rows) > per_page
        rows = rows[:per_page]
        if flip:
            rows.reverse()
        sort = sort_string(keys)
        has_next = more if not flip else True
        has_prev = True if not flip else more
        next_cursor = (
            encode_cursor(sort, _row_values(rows[-1], keys), "n") if rows and has_next else None
        )
        prev_cursor = (
            encode_cursor(sort, _row_values(rows[0], keys), "p") if rows and has_prev else None
        )
        pagination = {
            "page": None,
            "per_page": per_page,
            "total": None,
            "total_pages": None,
            "next_cursor": next_cursor,
            "prev_cursor": prev_cursor,
        }
        links = {
            "self": url_with(path, {**params, "cursor": args["cursor"]}),
            "first": url_with(path, params),
            "prev": url_with(path, {**params, "cursor": prev_cursor}) if prev_cursor else None,
            "next": url_with(path, {**params, "cursor": next_cursor}) if next_cursor else None,
            "last": None,
        }
        return Page(rows, pagination, links, wanted)

    keys = parse_sort(args.get("sort"), spec)
    page = args.get("page") or 1
    total = db.session.execute(
        select(func.count()).select_from(stmt.order_by(None).subquery())
    ).scalar_one()
    query = stmt.order_by(*_order(spec, keys, False)).limit(per_page).offset((page - 1) * per_page)
    rows = list(db.session.execute(query))
    total_pages = max(1, math.ceil(total / per_page))
    sort = sort_string(keys)
    more = page * per_page < total
    next_cursor = encode_cursor(sort, _row_values(rows[-1], keys), "n") if rows and more else None
    prev_cursor = (
        encode_cursor(sort, _row_values(rows[0], keys), "p") if rows and page > 1 else None
    )
    pagination = {
        "page": page,
        "per_page": per_page,
        "total": total,
        "total_pages": total_pages,
        "next_cursor": next_cursor,
        "prev_cursor": prev_cursor,
    }
    links = {
        "self": url_with(path, {**params, "page": page}),
        "first": url_with(path, {**params, "page": 1}),
        "prev": url_with(path, {**params, "page": page - 1}) if page > 1 else None,
        "next": url_with(path, {**params, "page": page + 1}) if more else None,
        "last": url_with(path, {**params, "page": total_pages}),
    }
    return Page(rows, pagination, links, wanted)
