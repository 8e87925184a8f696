"""Orders: placing one with its stock reserved, and the state machine.

Every state change is one function that ends in a single ``transaction.commit()`` (which
an idempotent request joins), so whatever else must happen atomically with the change
belongs right before that commit.

    pending --pay--> paid --ship--> shipped
    pending|paid --cancel--> cancelled      (stock returned)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, select, update

from bookstore.auth import Identity
from bookstore.exceptions import BadRequest, Conflict, Forbidden, NotFound
from bookstore.extensions import db
from bookstore.models import Book, Order, OrderItem
from bookstore.models.base import utcnow
from bookstore.schemas.order import order_to_dict
from bookstore.services import outbox
from bookstore.services.transaction import commit

books = Book.__table__
orders = Order.__table__
order_items = OrderItem.__table__
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "postal_code", "country")


@dataclass(frozen=True)
class Transition:
    sources: tuple[str, ...]
    target: str
    stamp: str  # the column that records when the order reached ``target``
    owner: bool  # the customer who placed the order may take it
    admin: bool  # any admin may take it
    forbidden: str  # why anyone else may not


TRANSITIONS = {
    "pay": Transition(
        ("pending",), "paid", "paid_at", True, False, "Only the customer who placed it can pay"
    ),
    "cancel": Transition(
        ("pending", "paid"), "cancelled", "cancelled_at", True, True, "Not your order"
    ),
    "ship": Transition(("paid",), "shipped", "shipped_at", False, True, "Only admins can ship"),
}


def may(action: str, identity: Identity, owner_id: int) -> bool:
    rule = TRANSITIONS[action]
    return (rule.admin and identity.is_admin) or (rule.owner and identity.user_id == owner_id)


def available_actions(status: str, owner_id: int, identity: Identity) -> list[str]:
    """The actions this caller may take on an order in ``status`` (its ``_links``)."""
    return [
        action
        for action, rule in TRANSITIONS.items()
        if status in rule.sources and may(action, identity, owner_id)
    ]


# -- placing an order ----------------------------------------------------------------


def place_order(user_id: int, lines: Sequence[dict[str, int]], address: dict[str, Any]) -> Order:
    """Reserve stock for every line and record the order, or change nothing.

    Lines are reserved in book id order so that concurrent orders lock rows in the same
    order and cannot deadlock. Each reservation is a conditional UPDATE: it only succeeds
    while enough stock is left, so stock never goes negative whatever the concurrency.
    """
    indexed = sorted(enumerate(lines), key=lambda pair: pair[1]["book_id"])
    _ensure_books_exist(indexed)
    snapshots: dict[int, Row[Any]] = {}
    short: list[tuple[int, dict[str, int]]] = []
    for index, line in indexed:
        reserved = db.session.execute(
            update(books)
            .where(books.c.id == line["book_id"], books.c.stock >= line["quantity"])
            .values(stock=books.c.stock - line["quantity"])
            .returning(*books.c)
        ).first()
        if reserved is None:
            short.append((index, line))
        else:
            snapshots[reserved.id] = reserved
            outbox.emit_low_stock_if_crossed(reserved, reserved.stock + line["quantity"])
    if short:
        raise _out_of_stock(sorted(short, key=lambda pair: pair[0]))

    items = []
    for line in lines:  # the client's order, with prices read under the row lock
        book = snapshots[line["book_id"]]
        items.append(
            OrderItem(
                book_id=book.id,
                title=book.title,
                isbn=book.isbn,
                unit_price=book.price,
                quantity=line["quantity"],
            )
        )
    order = Order(
        user_id=user_id,
        status="pending",
        total=sum((item.unit_price * item.quantity for item in items), Decimal("0.00")),
        shipping_address={name: address.get(name) for name in ADDRESS_FIELDS},
        items=items,
    )
    db.session.add(order)
    db.session.flush()
    _emit("order.created", order, order.items)
    commit()
    return order


def _ensure_books_exist(indexed: Sequence[tuple[int, dict[str, int]]]) -> None:
    ids = [line["book_id"] for _, line in indexed]
    known = set(db.session.execute(select(books.c.id).where(books.c.id.in_(ids))).scalars())
    missing = [
        {
            "field": f"items.{index}.book_id",
            "code": "NOT_FOUND",
            "message": f"Book {line['book_id']} does not exist.",
        }
        for index, line in sorted(indexed)
        if line["book_id"] not in known
    ]
    if missing:
        raise BadRequest("The request body contains invalid data", details=missing)


def _out_of_stock(short: Sequence[tuple[int, dict[str, int]]]) -> Conflict:
    ids = [line["book_id"] for _, line in short]
    rows = db.session.execute(select(books.c.id, books.c.stock).where(books.c.id.in_(ids)))
    left = {row.id: row.stock for row in rows}
    details = [
        {
            "field": f"items.{index}.quantity",
            "code": "OUT_OF_STOCK",
            "message": f"Book {line['book_id']}: {line['quantity']} requested, "
            f"{left.get(line['book_id'], 0)} available.",
        }
        for index, line in short
    ]
    return Conflict("Not enough stock for some books", code="OUT_OF_STOCK", details=details)


# -- the state machine ---------------------------------------------------------------


def pay(order_id: int, identity: Identity) -> tuple[Row[Any], list[Row[Any]]]:
    """pending -> paid (the payment is simulated: it always succeeds)."""
    return _apply(order_id, "pay", identity)


def cancel(order_id: int, identity: Identity) -> tuple[Row[Any], list[Row[Any]]]:
    """pending|paid -> cancelled, returning every line's copies to stock."""
    return _apply(order_id, "cancel", identity, effect=_return_stock)


def ship(order_id: int, identity: Identity) -> tuple[Row[Any], list[Row[Any]]]:
    """paid -> shipped."""
    return _apply(order_id, "ship", identity)


EVENTS = {"pay": "order.paid", "cancel": "order.cancelled", "ship": "order.shipped"}


def _apply(
    order_id: int,
    action: str,
    identity: Identity,
    effect: Callable[[list[Row[Any]]], None] | None = None,
) -> tuple[Row[Any], list[Row[Any]]]:
    """One transition, its side effect and its event, committed together."""
    order = _transition(order_id, action, identity)
    items = order_lines([order_id])[order_id]
    if effect:
        effect(items)
    _emit(EVENTS[action], order, items)
    commit()
    return order, items


def _return_stock(items: list[Row[Any]]) -> None:
    for item in sorted(items, key=lambda row: row.book_id or 0):  # the same lock order
        if item.book_id is not None:
            db.session.execute(
                update(books)
                .where(books.c.id == item.book_id)
                .values(stock=books.c.stock + item.quantity)
            )


def _emit(event_type: str, order: Any, items: Sequence[Any]) -> None:
    """Write the event to the outbox in this transaction: it commits with the change."""

    outbox.emit(event_type, order_to_dict(order, list(items)))


def _transition(order_id: int, action: str, identity: Identity) -> Row[Any]:
    """Move the order to the action's target state: 404, 403 or 409 when it may not."""
    rule = TRANSITIONS[action]
    stmt = select(orders.c.user_id, orders.c.status).where(orders.c.id == order_id)
    if not identity.is_admin:
        stmt = stmt.where(orders.c.user_id == identity.user_id)  # others' orders are 404
    current = db.session.execute(stmt).first()
    if current is None:
        raise NotFound()
    if not may(action, identity, current.user_id):
        raise Forbidden(rule.forbidden)
    if current.status not in rule.sources:
        raise _invalid(action, current.status)
    now = utcnow()
    # Compare-and-set on the status: of two concurrent transitions only one can win.
    changed = db.session.execute(
        update(orders)
        .where(orders.c.id == order_id, orders.c.status.in_(rule.sources))
        .values({"status": rule.target, rule.stamp: now, "updated_at": now})
        .returning(*orders.c)
    ).first()
    if changed is None:
        status = db.session.execute(select(orders.c.status).where(orders.c.id == order_id))
        raise _invalid(action, status.scalar_one())
    return changed


def _invalid(action: str, status: str) -> Conflict:
    allowed = " or ".join(TRANSITIONS[action].sources)
    return Conflict(
        f"Cannot {action} an order that is {status}",
        code="INVALID_STATE_TRANSITION",
        details=[
            {
                "field": "status",
                "code": "INVALID_STATE_TRANSITION",
                "message": f"'{action}' needs an order that is {allowed}; this one is {status}.",
            }
        ],
    )


def order_lines(order_ids: Sequence[int]) -> dict[int, list[Row[Any]]]:
    """The lines of each order, in the order the customer listed them: one query."""
    grouped: dict[int, list[Row[Any]]] = {order_id: [] for order_id in order_ids}
    if order_ids:
        rows = db.session.execute(
            select(order_items)
            .where(order_items.c.order_id.in_(order_ids))
            .order_by(order_items.c.order_id, order_items.c.id)
        )
        for row in rows:
            grouped[row.order_id].append(row)
    return grouped
