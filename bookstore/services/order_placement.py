"""Placing an order: reserve its stock, record it and its lines, queue its events.

Guarantees, whatever the concurrency: stock never goes negative (each line's reservation
is a conditional UPDATE, ``stock >= quantity``), a customer never holds more than
``ORDER_MAX_PENDING`` pending orders, and the order, its stock, its events and its
Idempotency-Key record commit together or not at all.

On PostgreSQL that is two statements (the idempotency claim and record add two more):

1. Lock the customer's row, lock the books in id order (concurrent orders then lock in the
   same order and cannot deadlock), reserve every line, and draw the order's id.
2. Insert the order (only while the customer is under the cap, counted after the lock of
   statement 1, so it sees every competing order that committed), its lines, its events
   and their deliveries.

If any line is unknown or short, or the cap is reached, the service raises and the whole
transaction rolls back. SQLite serialises writers, so a statement per step is as safe.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from flask import current_app
from sqlalchemy import (
    Integer,
    Row,
    String,
    bindparam,
    func,
    insert,
    literal,
    select,
    true,
    update,
)

from bookstore.db.rows import Rows
from bookstore.exceptions import BadRequest, Conflict
from bookstore.extensions import db
from bookstore.models import Book, Order, OrderItem, User
from bookstore.models.base import MONEY, utcnow
from bookstore.redis import cache
from bookstore.schemas.book import book_to_dict
from bookstore.schemas.order import order_to_dict
from bookstore.services import outbox
from bookstore.services.transaction import commit

books = Book.__table__
orders = Order.__table__
order_items = OrderItem.__table__
users = User.__table__
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "postal_code", "country")
ORDER_COLUMNS = (
    "id",
    "user_id",
    "status",
    "total",
    "shipping_address",
    "expires_at",
    "created_at",
    "updated_at",
)
ITEM_COLUMNS = ("order_id", "book_id", "title", "isbn", "unit_price", "quantity")


@dataclass(frozen=True)
class Line:
    """One line of a new order, as ``order_to_dict`` reads it."""

    book_id: int
    title: str
    isbn: str
    unit_price: Decimal
    quantity: int


def place_order(
    user_id: int, lines: Sequence[dict[str, int]], address: dict[str, Any]
) -> tuple[Any, list[Line]]:
    """Reserve stock for every line and record the order, or change nothing."""
    postgres = db.engine.dialect.name == "postgresql"
    now = utcnow()
    reserved, order_id = _reserve_pg(user_id, lines, now) if postgres else _reserve(lines, now)
    cache.books_changed(reserved)  # stock only: these books' entries, not every list
    if len(reserved) < len(lines):
        raise _refusal(lines, reserved)
    items = [_line(reserved[line["book_id"]], line["quantity"]) for line in lines]
    ttl = dt.timedelta(seconds=current_app.config["ORDER_PAYMENT_TTL"])
    order = SimpleNamespace(
        id=order_id,
        user_id=user_id,
        status="pending",
        total=sum((item.unit_price * item.quantity for item in items), Decimal("0.00")),
        shipping_address={name: address.get(name) for name in ADDRESS_FIELDS},
        expires_at=now + ttl,
        created_at=now,
        updated_at=now,
        **dict.fromkeys(("paid_at", "shipped_at", "cancelled_at", "expired_at")),
    )
    cap = current_app.config["ORDER_MAX_PENDING"]
    row = _insert_pg(order, items, reserved, now, cap) if postgres else _insert(order, items, cap)
    if row is None:
        raise _too_many_pending(cap)
    if not postgres:
        for event_type, data in _events(row, items, reserved):
            outbox.emit(event_type, data)
    commit()
    return row, items


def _line(book: Row[Any], quantity: int) -> Line:
    """The line as the book was under its row lock: its title, ISBN and price."""
    return Line(book.id, book.title, book.isbn, book.price, quantity)


def _events(order: Any, items: list[Line], reserved: dict[int, Row[Any]]):
    """``book.low_stock`` for every book this order took below the threshold, then the order."""
    for book in sorted(reserved.values(), key=lambda row: row.id):
        if outbox.low_stock_crossed(book.stock + book.reserved, book.stock):
            yield "book.low_stock", book_to_dict(book)
    yield "order.created", order_to_dict(order, items)


# -- PostgreSQL: two statements, built once ------------------------------------------
# Both are built at import with every value a bound parameter, so an order only binds its
# values: building and keying statements of this size cost more than running them.

WANT = Rows("want", (("book_id", Integer), ("qty", Integer)))
NEW_LINES = Rows(
    "new_lines",
    (
        ("book_id", Integer),
        ("title", String),
        ("isbn", String),
        ("unit_price", MONEY),
        ("quantity", Integer),
    ),
)


def _reserve_statement() -> Any:
    want = WANT.table()
    # Serialises this customer's orders, so the cap's count cannot race (see the module).
    owner = (
        select(users.c.id)
        .where(users.c.id == bindparam("user_id"))
        .with_for_update(key_share=True)
        .cte("owner")
    )
    # The sort runs below the row locks: the books are locked in id order, after the owner.
    locked = (
        select(books.c.id)
        .select_from(books.join(owner, true()))
        .where(books.c.id.in_(bindparam("ids", expanding=True)))
        .order_by(books.c.id)
        .with_for_update(of=books, key_share=True)
        .cte("locked")
    )
    next_id = select(func.nextval(func.pg_get_serial_sequence("orders", "id")).label("id")).cte(
        "next_order_id"
    )
    return (
        update(books)
        .where(
            books.c.id == want.c.book_id,
            books.c.id == locked.c.id,
            books.c.stock >= want.c.qty,
        )
        .values(
            stock=books.c.stock - want.c.qty,
            updated_at=bindparam("reserved_at", type_=books.c.updated_at.type),
        )
        .returning(
            *books.c,
            want.c.qty.label("reserved"),
            select(next_id.c.id).scalar_subquery().label("order_id"),
        )
    )


def _insert_statement() -> Any:
    pending = (
        select(func.count())
        .select_from(orders)
        .where(orders.c.user_id == bindparam("owner_id"), orders.c.status == "pending")
        .scalar_subquery()
    )
    fields = [bindparam(f"order_{name}", type_=orders.c[name].type) for name in ORDER_COLUMNS]
    new_order = (
        insert(orders)
        .from_select(list(ORDER_COLUMNS), select(*fields).where(pending < bindparam("cap")))
        .returning(*orders.c)
        .cte("new_order")
    )
    new_lines = NEW_LINES.table(ordinality="position")
    added_lines = (
        insert(order_items)
        .from_select(
            list(ITEM_COLUMNS),
            # In the client's order: line ids follow it, and so does every later read.
            select(new_order.c.id, *[new_lines.c[name] for name in ITEM_COLUMNS[1:]])
            .select_from(new_order.join(new_lines, true()))
            .order_by(new_lines.c.position),
        )
        .returning(order_items.c.id)
        .cte("added_lines")
    )
    events = outbox.event_ctes(only_with=new_order)
    return select(new_order).add_cte(added_lines, *events)


RESERVE = _reserve_statement()
INSERT = _insert_statement()


def _reserve_pg(
    user_id: int, lines: Sequence[dict[str, int]], now: dt.datetime
) -> tuple[dict[int, Row[Any]], int | None]:
    params = {
        "user_id": user_id,
        "ids": sorted(line["book_id"] for line in lines),
        "reserved_at": now,
        **WANT.params([(line["book_id"], line["quantity"]) for line in lines]),
    }
    rows = db.session.execute(RESERVE, params).all()
    return {row.id: row for row in rows}, (rows[0].order_id if rows else None)


def _insert_pg(
    order: Any, items: list[Line], reserved: dict[int, Row[Any]], now: dt.datetime, cap: int
) -> Row[Any] | None:
    events = [outbox.event_row(kind, data, now) for kind, data in _events(order, items, reserved)]
    params = {
        "owner_id": order.user_id,
        "cap": cap,
        **{f"order_{name}": getattr(order, name) for name in ORDER_COLUMNS},
        **NEW_LINES.params(
            [
                (item.book_id, item.title, item.isbn, item.unit_price, item.quantity)
                for item in items
            ]
        ),
        **outbox.event_params(events),
    }
    return db.session.execute(INSERT, params).first()


# -- SQLite: a statement per step ----------------------------------------------------


def _reserve(lines: Sequence[dict[str, int]], now: dt.datetime) -> tuple[dict[int, Row[Any]], None]:
    reserved: dict[int, Row[Any]] = {}
    for line in sorted(lines, key=lambda line: line["book_id"]):
        row = db.session.execute(
            update(books)
            .where(books.c.id == line["book_id"], books.c.stock >= line["quantity"])
            .values(stock=books.c.stock - line["quantity"], updated_at=now)
            .returning(*books.c, literal(line["quantity"]).label("reserved"))
        ).first()
        if row is not None:
            reserved[row.id] = row
    return reserved, None


def _insert(order: Any, items: list[Line], cap: int) -> Row[Any] | None:
    pending = db.session.execute(
        select(func.count())
        .select_from(orders)
        .where(orders.c.user_id == order.user_id, orders.c.status == "pending")
    ).scalar_one()
    if pending >= cap:
        return None
    fields = {name: getattr(order, name) for name in ORDER_COLUMNS if name != "id"}
    row = db.session.execute(insert(orders).values(**fields).returning(*orders.c)).one()
    db.session.execute(
        insert(order_items),
        [{"order_id": row.id, **vars(item)} for item in items],
    )
    return row


# -- refusals ------------------------------------------------------------------------


def _refusal(lines: Sequence[dict[str, int]], reserved: dict[int, Row[Any]]) -> Exception:
    """400 naming unknown books, else 409 naming every line that could not be reserved."""
    ids = [line["book_id"] for line in lines]
    rows = db.session.execute(select(books.c.id, books.c.stock).where(books.c.id.in_(ids)))
    left = {row.id: row.stock for row in rows}
    missing = [
        {
            "field": f"items.{index}.book_id",
            "code": "NOT_FOUND",
            "message": f"Book {line['book_id']} does not exist.",
        }
        for index, line in enumerate(lines)
        if line["book_id"] not in left
    ]
    if missing:
        return BadRequest("The request body contains invalid data", details=missing)
    details = [
        {
            "field": f"items.{index}.quantity",
            "code": "OUT_OF_STOCK",
            "message": f"Book {line['book_id']}: {line['quantity']} requested, "
            f"{left[line['book_id']]} available.",
        }
        for index, line in enumerate(lines)
        if line["book_id"] not in reserved
    ]
    return Conflict("Not enough stock for some books", code="OUT_OF_STOCK", details=details)


def _too_many_pending(cap: int) -> Conflict:
    return Conflict(
        f"You already have {cap} unpaid orders, the most allowed: pay or cancel one first",
        code="TOO_MANY_PENDING_ORDERS",
        details=[
            {
                "field": "items",
                "code": "TOO_MANY_PENDING_ORDERS",
                "message": f"At most {cap} pending orders per customer (ORDER_MAX_PENDING).",
            }
        ],
    )
