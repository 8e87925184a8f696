"""The delivery log of a webhook subscription: list, inspect, redeliver, ping."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint
from sqlalchemy import exists, select

from bookstore import openapi
from bookstore.api.resource import row_or_404
from bookstore.auth import admin_required
from bookstore.exceptions import Conflict, NotFound
from bookstore.extensions import db
from bookstore.models import DeliveryAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription
from bookstore.models.base import utcnow
from bookstore.pagination import ListSpec, paginate, select_fields
from bookstore.schemas.webhook import (
    DeliveryDetailSchema,
    DeliveryListQuery,
    DeliverySchema,
    attempt_to_dict,
    delivery_to_dict,
)
from bookstore.services import outbox
from bookstore.web.responses import collection_response, resource_response

bp = Blueprint("webhook_deliveries", __name__)
deliveries = WebhookDelivery.__table__
events = WebhookEvent.__table__
attempts = DeliveryAttempt.__table__
subscriptions = WebhookSubscription.__table__
DELIVERY_LIST = ListSpec(
    sortable={"id": deliveries.c.id, "created_at": deliveries.c.created_at},
    fields=tuple(DeliverySchema().dump_fields),
    default_sort="-id",
)
SETTLED = ("delivered", "failed")


def _delivery_row(webhook_id: int, delivery_id: int) -> Any:
    row = db.session.execute(
        select(deliveries, events.c.type.label("event_type"), events.c.payload)
        .join(events, events.c.id == deliveries.c.event_id)
        .where(deliveries.c.id == delivery_id, deliveries.c.subscription_id == webhook_id)
    ).first()
    if row is None:
        raise NotFound()
    return row


def _ensure_active(webhook_id: int) -> None:
    if not row_or_404(subscriptions, webhook_id).active:
        raise Conflict(
            "The webhook is inactive; activate it before sending to it",
            code="INVALID_STATE_TRANSITION",
        )


@bp.get("/webhooks/<int:webhook_id>/deliveries")
@admin_required
@openapi.query(DeliveryListQuery)
@openapi.response(DeliverySchema, many=True)
def list_deliveries(webhook_id: int, query: dict[str, Any]):
    """List a webhook's deliveries, newest first, optionally by status or event type.

    Items carry the outcome of the last attempt; the attempt log of one delivery is in
    `GET .../deliveries/{delivery_id}`.
    """
    found = select(exists().where(subscriptions.c.id == webhook_id))
    if not db.session.execute(found).scalar():
        raise NotFound()
    stmt = (
        select(deliveries, events.c.type.label("event_type"))
        .join(events, events.c.id == deliveries.c.event_id)
        .where(deliveries.c.subscription_id == webhook_id)
    )
    if "status" in query:
        stmt = stmt.where(deliveries.c.status == query["status"])
    if "event_type" in query:
        stmt = stmt.where(events.c.type == query["event_type"])
    page = paginate(stmt, query, DELIVERY_LIST, f"/v1/webhooks/{webhook_id}/deliveries")
    items = [select_fields(delivery_to_dict(row), page.fields) for row in page.rows]
    return collection_response(items, page.pagination, page.links)


@bp.get("/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>")
@admin_required
@openapi.response(DeliveryDetailSchema)
def get_delivery(webhook_id: int, delivery_id: int):
    """Get one delivery with the event it sends and every attempt."""
    row = _delivery_row(webhook_id, delivery_id)
    log = db.session.execute(
        select(attempts)
        .where(attempts.c.delivery_id == delivery_id)
        .order_by(attempts.c.attempt_number)
    )
    data = delivery_to_dict(row)
    data["event"] = orjson.loads(row.payload)
    data["attempts"] = [attempt_to_dict(attempt) for attempt in log]
    return resource_response(data)


@bp.post("/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver")
@admin_required
@openapi.response(DeliverySchema, 202, description="Queued", headers={"Location": "string"})
@openapi.errors(409)
def redeliver(webhook_id: int, delivery_id: int):
    """Queue the same event again to this webhook as a new delivery, due now.

    Only a settled (`delivered` or `failed`) delivery can be replayed, and only to an
    active webhook (409 otherwise). The copy keeps the event id, so receivers can
    deduplicate; the original and its attempt log are left as they were.
    """
    row = _delivery_row(webhook_id, delivery_id)
    if row.status not in SETTLED:
        raise Conflict("The delivery is still queued", code="INVALID_STATE_TRANSITION")
    _ensure_active(webhook_id)
    now = utcnow()
    copy = WebhookDelivery(
        subscription_id=webhook_id,
        event_id=row.event_id,
        status="pending",
        attempts=0,
        next_attempt_at=now,
    )
    db.session.add(copy)
    db.session.commit()
    data = delivery_to_dict(copy, row.event_type)
    return resource_response(data, status=202, location=data["_links"]["self"])


@bp.post("/webhooks/<int:webhook_id>/ping")
@admin_required
@openapi.response(DeliverySchema, 202, description="Queued", headers={"Location": "string"})
@openapi.errors(409)
def ping_webhook(webhook_id: int):
    """Queue a `ping` event to this webhook only (409 if it is inactive).

    The body is `{"id", "type": "ping", "created_at", "data": {"webhook_id"}}`, signed
    like every event; follow the returned delivery to see the receiver's answer.
    """
    _ensure_active(webhook_id)
    delivery = outbox.queue_ping(webhook_id)
    db.session.commit()
    data = delivery_to_dict(delivery, "ping")
    return resource_response(data, status=202, location=data["_links"]["self"])
