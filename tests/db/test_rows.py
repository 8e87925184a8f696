"""Rows sent as array parameters (``bookstore.db.rows.unnested``) come back as they went,
on the real PostgreSQL: every type the order and the outbox send, in order, none at all."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import DateTime, Integer, Numeric, String, Text, select

from bookstore.db.rows import unnested
from bookstore.extensions import db

COLUMNS = [
    ("n", Integer),
    ("title", String),
    ("body", Text),
    ("price", Numeric(10, 2)),
    ("at", DateTime(True)),
]
AT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def _select(rows):
    table = unnested("sent", COLUMNS, rows, ordinality="position")
    return db.session.execute(select(table).order_by(table.c.position)).all()


def test_rows_come_back_with_their_types_and_their_order(app_ctx):
    rows = [
        (3, "Dune", '{"a": "\\u00e9, quote \\" and comma"}', Decimal("9.99"), AT),
        (1, "O'Brien, {braces}", "", Decimal("0.50"), AT + dt.timedelta(days=1)),
        (2, "Ünïcode", "x", Decimal("100.00"), AT),
    ]
    got = _select(rows)
    assert [tuple(row[:5]) for row in got] == rows
    assert [row.position for row in got] == [1, 2, 3]


def test_no_rows_is_an_empty_table(app_ctx):
    assert _select([]) == []
