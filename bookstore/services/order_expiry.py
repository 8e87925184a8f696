"""Expiring unpaid orders: pending past ``expires_at`` -> expired, its stock returned.

``flask orders expire --loop`` runs this beside the web processes (``make run`` and
docker-compose start it); several may run at once. Each batch is one transaction: the
due orders are locked with ``FOR UPDATE SKIP LOCKED`` (so two workers never take the same
order, and an order a request is paying or cancelling right now is left to that request),
moved to ``expired`` only if still pending, their copies returned and an ``order.expired``
event written, all committed together. A ``pay`` racing the expiry either commits first
(the order is paid, and no longer pending when the expiry looks) or waits for the
expiry's commit and finds the order expired (409 INVALID_STATE_TRANSITION).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from bookstore.extensions import db
from bookstore.models import Order
from bookstore.models.base import utcnow
from bookstore.services.orders import emit, order_lines, return_stock

orders = Order.__table__
BATCH = 100
log = logging.getLogger("bookstore.orders")


def expire_batch(now: dt.datetime | None = None, limit: int = BATCH) -> int:
    """Expire up to ``limit`` orders whose payment window closed by ``now``; commit."""
    now = now or utcnow()
    due = (
        select(orders.c.id)
        .where(orders.c.status == "pending", orders.c.expires_at <= now)
        .order_by(orders.c.expires_at, orders.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    expired = db.session.execute(
        update(orders)
        .where(orders.c.id.in_(due.scalar_subquery()), orders.c.status == "pending")
        .values(status="expired", expired_at=now, updated_at=now)
        .returning(*orders.c)
    ).all()
    if expired:
        lines = order_lines([order.id for order in expired])
        return_stock(item for order in expired for item in lines[order.id])
        for order in sorted(expired, key=lambda row: row.id):
            emit("order.expired", order, lines[order.id])
    db.session.commit()
    return len(expired)


def expire_due(now: dt.datetime | None = None) -> int:
    """Expire every order due at ``now``, a batch per transaction; how many."""
    total = 0
    while True:
        count = expire_batch(now)
        total += count
        if count < BATCH:
            return total


def run(stop: threading.Event, interval: float | None = None) -> int:
    """Expire due orders every ``interval`` seconds until ``stop`` is set; how many."""
    interval = interval or current_app.config["ORDER_EXPIRY_INTERVAL"]
    total = 0
    while not stop.is_set():
        try:
            count = expire_due()
        except OperationalError:
            db.session.rollback()
            log.exception("order expiry: database unavailable; retrying")
            stop.wait(max(interval, 5))
            continue
        finally:
            db.session.close()
        if count:
            log.info("expired %s unpaid orders", count, extra={"expired": count})
        total += count
        stop.wait(interval)
    return total
