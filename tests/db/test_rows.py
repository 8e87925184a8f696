"""Rows sent as array parameters (``bookstore.db.rows.Rows``) come back as they went, on
the real PostgreSQL: every type the order and the outbox send, in order, none at all, and
one statement serves any number of rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import DateTime, Integer, Numeric, String, Text, select

from bookstore.db.rows import Rows
from bookstore.extensions import db

SENT = Rows(
    "sent",
    (
        ("n", Integer),
        ("title", String),
        ("body", Text),
        ("price", Numeric(10, 2)),
        ("at", DateTime(True)),
    ),
)
TABLE = SENT.table(ordinality="position")
STATEMENT = select(TABLE).order_by(TABLE.c.position)
AT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def _select(rows):
    return db.session.execute(STATEMENT, SENT.params(rows)).all()


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


def test_the_parameters_are_one_array_per_column():
    assert SENT.params([(1, "a", "b", 2, AT), (3, "c", "d", 4, AT)]) == {
        "sent_n": [1, 3],
        "sent_title": ["a", "c"],
        "sent_body": ["b", "d"],
        "sent_price": [2, 4],
        "sent_at": [AT, AT],
    }
