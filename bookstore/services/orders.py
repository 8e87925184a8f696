"""Orders: the state machine (placing one is ``services.order_placement``).

Every state change is one function that ends in a single ``transaction.commit()`` (which
an idempotent request joins), so whatever else must happen atomically with the change
belongs right before that commit.

    pending --pay--> paid --ship--> shipped
    pending|paid --cancel--> cancelled      (stock returned)
    pending --(unpaid at expires_at)--> expired   (stock returned; services.order_expiry)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, or_, select, update

from bookstore.auth import Identity
from bookstore.exceptions import Conflict, Forbidden, NotFound
from bookstore.extensions import db
from bookstore.models import Book, Order, OrderItem
from bookstore.models.base import utcnow
from bookstore.redis import cache
from bookstore.schemas.order import order_to_dict
from bookstore.services import outbox
from bookstore.services.transaction import commit

books = Book.__table__
orders = Order.__table__
order_items = OrderItem.__table__


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


# -- the state machine ---------------------------------------------------------------


def pay(order_id: int, identity: Identity) -> tuple[Row[Any], list[Row[Any]]]:
    """pending -> paid (the payment is simulated: it always succeeds)."""
    return _apply(order_id, "pay", identity)


def cancel(order_id: int, identity: Identity) -> tuple[Row[Any], list[Row[Any]]]:
    """pending|paid -> cancelled, returning every line's copies to stock."""
    return _apply(order_id, "cancel", identity, effect=return_stock)


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
    emit(EVENTS[action], order, items)
    commit()
    return order, items


def return_stock(items: Iterable[Any]) -> None:
    """Put the copies of these lines (of one order or many) back, a book at a time."""
    copies: Counter[int] = Counter()
    for item in items:
        if item.book_id is not None:  # a deleted book has no stock to return to
            copies[item.book_id] += item.quantity
    for book_id in sorted(copies):  # id order, as placing locks them: no deadlock
        db.session.execute(
            update(books).where(books.c.id == book_id).values(stock=books.c.stock + copies[book_id])
        )
    cache.books_changed(copies)  # stock only: these books' entries, not every list


def emit(event_type: str, order: Any, items: Sequence[Any]) -> None:
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
    conditions = [orders.c.id == order_id, orders.c.status.in_(rule.sources)]
    if action == "pay":  # past its deadline an order is as good as expired, swept or not
        conditions.append(or_(orders.c.expires_at.is_(None), orders.c.expires_at > now))
    changed = db.session.execute(
        update(orders)
        .where(*conditions)
        .values({"status": rule.target, rule.stamp: now, "updated_at": now})
        .returning(*orders.c)
    ).first()
    if changed is None:
        status = db.session.execute(select(orders.c.status).where(orders.c.id == order_id))
        status = status.scalar_one()
        if status == "pending":
            raise _invalid(action, status, "its payment window has closed")
        raise _invalid(action, status)
    return changed


def _invalid(action: str, status: str, reason: str | None = None) -> Conflict:
    allowed = " or ".join(TRANSITIONS[action].sources)
    why = reason or f"this one is {status}"
    return Conflict(
        f"Cannot {action} this order: {reason}"
        if reason
        else f"Cannot {action} an order that is {status}",
        code="INVALID_STATE_TRANSITION",
        details=[
            {
                "field": "status",
                "code": "INVALID_STATE_TRANSITION",
                "message": f"'{action}' needs an order that is {allowed}; {why}.",
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
