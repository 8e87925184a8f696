"""Offset and keyset pagination, sorting and sparse fields: one implementation for every list.

A list view builds an unexecuted ``select()`` with its filters and hands it to
:func:`paginate`, which applies sort, cursor or offset, limit and count, and returns the
rows with the ``pagination`` and ``links`` parts of the envelope.

Cursors (:mod:`bookstore.pagination.cursors`) are opaque and tamper-evident, and they hold the sort
key values of the boundary row, so a page costs the same at any depth.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from flask import request
from sqlalchemy import ColumnElement, Connection, Select, and_, literal, or_, tuple_

from bookstore.db.reads import run_read
from bookstore.exceptions import InvalidQuery
from bookstore.pagination import counting, cursors
from bookstore.pagination.cursors import encode_cursor
from bookstore.web.responses import query_string

# Returned whatever ``fields=`` asks for.
ALWAYS_FIELDS = ("id", "_links")


@dataclass(frozen=True)
class ListSpec:
    """What a collection may be sorted by, and which fields it can return."""

    sortable: Mapping[str, ColumnElement[Any]]
    fields: Sequence[str]
    default_sort: str = "id"
    always: tuple[str, ...] = ALWAYS_FIELDS


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


def decode_cursor(cursor: str, spec: ListSpec) -> tuple[list[tuple[str, bool]], list[Any], str]:
    """The sort keys, boundary values and direction a (verified) cursor holds."""
    data = cursors.verified_payload(cursor)
    try:
        keys = parse_sort(data["s"], spec)
        raw_values, direction = data["v"], data["d"]
    except (KeyError, TypeError):
        raise cursors.bad_cursor() from None
    if direction not in ("n", "p") or not isinstance(raw_values, list):
        raise cursors.bad_cursor()
    if len(raw_values) != len(keys):
        raise cursors.bad_cursor()
    values = [
        cursors.typed(spec.sortable[name].type.python_type, value)
        for (name, _), value in zip(keys, raw_values, strict=True)
    ]
    return keys, values, direction


# -- queries -------------------------------------------------------------------------


def _order(spec: ListSpec, keys: Sequence[tuple[str, bool]], flip: bool) -> list[Any]:
    return [
        spec.sortable[name].desc() if desc != flip else spec.sortable[name].asc()
        for name, desc in keys
    ]


def _after(spec: ListSpec, keys: Sequence[tuple[str, bool]], values: Sequence[Any], flip: bool):
    """Rows strictly after ``values`` in the possibly flipped order."""
    columns = [spec.sortable[name] for name, _ in keys]
    values = [
        literal(value, type_=column.type) for column, value in zip(columns, values, strict=True)
    ]
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
    return [getattr(row, name) for name, _ in keys]


def paginate(
    stmt: Select[Any],
    args: Mapping[str, Any],
    spec: ListSpec,
    path: str,
) -> Page:
    """Run ``stmt`` for one page; three statements at most whatever the page size.

    The statements run on one read connection (:func:`bookstore.db.reads.run_read`: no
    transaction on PostgreSQL), so a count and a page cost one round trip each.
    """
    per_page = args["per_page"]
    wanted = parse_fields(args.get("fields"), spec)
    params = {k: v for k, v in request.args.items() if k not in ("page", "cursor")}
    params["per_page"] = per_page
    link = _Links(path, params)
    if args.get("cursor"):
        cursor = decode_cursor(args["cursor"], spec)
        return run_read(lambda conn: _cursor_page(conn, stmt, cursor, args, spec, link, wanted))
    return run_read(lambda conn: _offset_page(conn, stmt, args, spec, link, wanted))


class _Links:
    """``path?<the request's parameters>&<one more>``, the shared part encoded once."""

    def __init__(self, path: str, params: Mapping[str, Any]) -> None:
        self.path = path
        base = query_string(params)
        self.first = f"{path}?{base}" if base else path
        self.prefix = f"{path}?{base}&" if base else f"{path}?"

    def __call__(self, key: str | None = None, value: Any = None) -> str:
        # key is "page" or "cursor": nothing to escape; the value is encoded as urlencode
        # would (a cursor is URL-safe already: quote_plus returns it as it is).
        return f"{self.prefix}{key}={quote_plus(str(value))}" if key else self.first


def _cursor_page(
    conn: Connection,
    stmt: Select[Any],
    cursor: tuple[list[tuple[str, bool]], list[Any], str],
    args: Mapping[str, Any],
    spec: ListSpec,
    link: _Links,
    wanted: set[str] | None,
) -> Page:
    per_page = args["per_page"]
    keys, values, direction = cursor
    if args.get("sort") and parse_sort(args["sort"], spec) != keys:
        raise cursors.bad_cursor("The cursor was issued for a different sort order.")
    flip = direction == "p"
    limit = per_page + 1
    query = stmt.where(_after(spec, keys, values, flip)).order_by(*_order(spec, keys, flip))
    rows = list(conn.execute(query.limit(limit)))
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
        "self": link("cursor", args["cursor"]),
        "first": link(),
        "prev": link("cursor", prev_cursor) if prev_cursor else None,
        "next": link("cursor", next_cursor) if next_cursor else None,
        "last": None,
    }
    return Page(rows, pagination, links, wanted)


def _offset_page(
    conn: Connection,
    stmt: Select[Any],
    args: Mapping[str, Any],
    spec: ListSpec,
    link: _Links,
    wanted: set[str] | None,
) -> Page:
    per_page = args["per_page"]
    keys = parse_sort(args.get("sort"), spec)
    page = args.get("page") or 1
    total = counting.count(conn, stmt)
    offset = (page - 1) * per_page
    limit = per_page + 1

    order = _order(spec, keys, False)
    if not offset:
        query = stmt.order_by(*order).limit(limit)
    else:
        # Deferred join: walk the offset over the sort keys alone (an index-only scan where
        # an index covers them), then read the page's rows: a deep page costs what its
        # keys cost, not every whole row before it.
        pk = spec.sortable["id"]
        inner = stmt.with_only_columns(pk, maintain_column_froms=True).order_by(*order)
        query = stmt.where(pk.in_(inner.limit(limit).offset(offset))).order_by(*order)
    rows = list(conn.execute(query))
    more = len(rows) > per_page
    rows = rows[:per_page]
    total_pages = max(1, math.ceil(total.value / per_page))
    sort = sort_string(keys)
    next_cursor = encode_cursor(sort, _row_values(rows[-1], keys), "n") if rows and more else None
    prev_cursor = (
        encode_cursor(sort, _row_values(rows[0], keys), "p") if rows and page > 1 else None
    )
    pagination = {
        "page": page,
        "per_page": per_page,
        "total": total.value,
        "total_pages": total_pages,
        "next_cursor": next_cursor,
        "prev_cursor": prev_cursor,
    }
    links = {
        "self": link("page", page),
        "first": link("page", 1),
        "prev": link("page", page - 1) if page > 1 else None,
        "next": link("page", page + 1) if more else None,
        # An estimated total cannot promise where the last page is.
        "last": link("page", total_pages) if total.exact else None,
    }
    return Page(rows, pagination, links, wanted)
