"""The transactional outbox: events are rows written in the transaction of the change.

Callers add events to the current ``db.session`` and commit once, with their own change;
nothing is sent from inside a request. ``emit`` also queues one pending delivery per
active subscription to the event type, so a rolled-back change leaves neither an event
nor a delivery, and a committed one leaves exactly one event. The webhook worker
(``flask webhooks work``) sends the deliveries. On PostgreSQL an event and its deliveries
are one statement, which a caller may also fold into its own (``event_ctes``).

Usage from a service::

    order.status = "paid"
    outbox.emit("order.paid", order_to_dict(order))
    db.session.commit()
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import orjson
from flask import current_app
from sqlalchemy import (
    CTE,
    DateTime,
    FromClause,
    String,
    Text,
    and_,
    cast,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB

from bookstore.db.rows import Rows
from bookstore.extensions import db
from bookstore.models.base import utcnow
from bookstore.models.book import Book
from bookstore.models.webhook import (
    EVENT_TYPES,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from bookstore.schemas.book import book_to_dict
from bookstore.schemas.formatting import format_datetime

events = WebhookEvent.__table__
deliveries = WebhookDelivery.__table__
subscriptions = WebhookSubscription.__table__


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def event_row(event_type: str, data: dict[str, Any], now: dt.datetime | None = None) -> dict:
    """The outbox row of one event: its id, type, the exact JSON body sent, created_at."""
    event_id = "evt_" + uuid.uuid4().hex
    now = now or utcnow()
    body = {"id": event_id, "type": event_type, "created_at": format_datetime(now), "data": data}
    payload = orjson.dumps(body, default=_default).decode()
    return {"id": event_id, "type": event_type, "payload": payload, "created_at": now}


def _add_event(event_type: str, data: dict[str, Any]) -> tuple[str, dt.datetime]:
    row = event_row(event_type, data)
    db.session.execute(insert(events).values(**row))
    return row["id"], row["created_at"]


NEW_EVENTS = Rows(
    "new_events",
    (("id", String), ("type", String), ("payload", Text), ("created_at", DateTime(True))),
)


def event_params(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The parameters of :func:`event_ctes` for these events (rows of :func:`event_row`)."""
    for row in rows:
        if row["type"] not in EVENT_TYPES:
            raise ValueError(f"unknown webhook event type {row['type']!r}")
    return NEW_EVENTS.params([(r["id"], r["type"], r["payload"], r["created_at"]) for r in rows])


def event_ctes(only_with: FromClause | None = None) -> list[CTE]:
    """PostgreSQL: CTEs inserting events and their deliveries, for one statement; the
    events are bound at execution (:func:`event_params`).

    ``only_with``: insert nothing unless that FROM clause has a row (a CTE inserting the
    change itself, say).
    """
    new = NEW_EVENTS.table()
    source = select(new.c.id, new.c.type, new.c.payload, new.c.created_at)
    if only_with is not None:
        source = source.where(select(literal(1)).select_from(only_with).exists())
    added = (
        insert(events)
        .from_select(["id", "type", "payload", "created_at"], source)
        .returning(events.c.id, events.c.type, events.c.created_at)
        .cte("added_events")
    )
    s = subscriptions.c
    subscribed = and_(s.active.is_(True), cast(s.event_types, JSONB).has_key(added.c.type))
    queued = (
        insert(deliveries)
        .from_select(
            [
                "subscription_id",
                "event_id",
                "status",
                "attempts",
                "next_attempt_at",
                "created_at",
                "updated_at",
            ],
            select(
                s.id,
                added.c.id,
                literal("pending"),
                literal(0),
                added.c.created_at,
                added.c.created_at,
                added.c.created_at,
            ).select_from(added.join(subscriptions, subscribed)),
        )
        .returning(deliveries.c.id)
        .cte("queued_deliveries")
    )
    return [added, queued]


def _emit_statement() -> Any:
    added, queued = event_ctes()
    return select(queued.c.id).add_cte(added)


EMIT = _emit_statement()  # built once: an event only binds its values


def _delivery_row(subscription_id: int, event_id: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "subscription_id": subscription_id,
        "event_id": event_id,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


def emit(event_type: str, data: dict[str, Any]) -> str:
    """Add an event and its deliveries to the current session, without committing.

    ``data`` is the resource representation (e.g. ``book_to_dict(book)``). Returns the
    event id. The caller's single commit makes the change and the event durable together.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    if db.engine.dialect.name == "postgresql":
        row = event_row(event_type, data)
        db.session.execute(EMIT, event_params([row]))
        return row["id"]
    event_id, now = _add_event(event_type, data)
    # Subscriptions are few; filtering their event lists here works on every backend.
    rows = db.session.execute(
        select(subscriptions.c.id, subscriptions.c.event_types).where(
            subscriptions.c.active.is_(True)
        )
    )
    targets = [row.id for row in rows if event_type in (row.event_types or [])]
    if targets:
        db.session.execute(insert(deliveries), [_delivery_row(t, event_id, now) for t in targets])
    return event_id


def queue_ping(subscription_id: int) -> WebhookDelivery:
    """A ``ping`` event for one subscription only, whatever its event types."""
    event_id, now = _add_event("ping", {"webhook_id": subscription_id})
    delivery = WebhookDelivery(**_delivery_row(subscription_id, event_id, now))
    db.session.add(delivery)
    db.session.flush()
    return delivery


def low_stock_crossed(old_stock: int, new_stock: int) -> bool:
    """Whether stock went from above LOW_STOCK_THRESHOLD to at or below it."""
    return old_stock > current_app.config["LOW_STOCK_THRESHOLD"] >= new_stock


def emit_low_stock_if_crossed(book: Any, old_stock: int, new_stock: int | None = None) -> bool:
    """Emit ``book.low_stock`` when stock went from above the threshold to at or below it.

    ``book`` is a ``Book`` (or a row of ``books``, or a book id) already holding the new
    stock; flush ORM changes first when passing an id. Returns whether it emitted.
    """

    if isinstance(book, int):
        db.session.flush()
        book = db.session.execute(select(Book.__table__).where(Book.__table__.c.id == book)).one()
    new = book.stock if new_stock is None else new_stock
    if low_stock_crossed(old_stock, new):
        emit("book.low_stock", book_to_dict(book))
        return True
    return False
