"""Webhook subscriptions, deliveries and their attempts."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from bookstore.exceptions import fail
from bookstore.models.webhook import DELIVERY_STATUSES, EVENT_TYPES
from bookstore.schemas.common import ListQuery
from bookstore.schemas.fields import Text, UTCDateTime
from bookstore.schemas.formatting import format_datetime

PING = "ping"


class StrictBoolean(fields.Boolean):
    """``true`` or ``false`` only: no ``"yes"``, ``1`` or ``"on"``."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise fail("INVALID_TYPE", "Must be true or false.")
        return value


class EventTypes(fields.List):
    """A non-empty list of the contract's event types; duplicates are dropped."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).update(
            description="Events to receive, at least one; no wildcard",
            example=["book.created", "order.paid"],
        )
        super().__init__(fields.String(validate=validate.OneOf(EVENT_TYPES)), **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[str]:
        if not isinstance(value, list):
            raise fail("INVALID_TYPE", "Must be a list of event types.")
        unknown = [v for v in value if not isinstance(v, str) or v not in EVENT_TYPES]
        if unknown:
            raise fail("INVALID_CHOICE", f"Unknown event types; allowed: {', '.join(EVENT_TYPES)}.")
        if not value:
            raise fail("TOO_SHORT", "At least one event type is required.")
        return list(dict.fromkeys(value))


class WebhookLinks(Schema):
    self = fields.String(required=True)
    deliveries = fields.String(required=True)
    ping = fields.String(required=True)
    rotate_secret = fields.String(required=True)


class WebhookSchema(Schema):
    """A subscription. The signing secret is never shown after creation or rotation."""

    id = fields.Integer(dump_only=True)
    url = Text(
        required=True,
        min_length=1,
        max_length=2048,
        metadata={"format": "uri", "description": "https in production; public hosts only"},
    )
    event_types = EventTypes(required=True)
    active = StrictBoolean(load_default=True)
    description = Text(max_length=500, allow_none=True, load_default=None)
    disabled_reason = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Why the server deactivated it (410 Gone)"},
    )
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)
    _links = fields.Nested(WebhookLinks, dump_only=True, data_key="_links")


class WebhookPatchSchema(WebhookSchema):
    active = StrictBoolean()
    description = Text(max_length=500, allow_none=True)


class WebhookSecretSchema(WebhookSchema):
    """The subscription with its signing secret: only in the creation and rotation replies."""

    secret = fields.String(
        dump_only=True,
        metadata={"description": "Shown once. HMAC-SHA256 key for X-Bookstore-Signature"},
    )


class WebhookListQuery(ListQuery):
    active = fields.Boolean()


class AttemptSchema(Schema):
    attempt = fields.Integer()
    started_at = UTCDateTime()
    finished_at = UTCDateTime(allow_none=True)
    duration_ms = fields.Integer(allow_none=True)
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True, metadata={"description": "Error class: message"})
    response_body = fields.String(allow_none=True, metadata={"description": "First 1 KB"})


class DeliveryLinks(Schema):
    self = fields.String(required=True)
    webhook = fields.String(required=True)
    redeliver = fields.String(required=True)


class DeliverySchema(Schema):
    id = fields.Integer()
    event_id = fields.String()
    event_type = fields.String(metadata={"enum": [*EVENT_TYPES, PING]})
    status = fields.String(metadata={"enum": list(DELIVERY_STATUSES)})
    attempt_count = fields.Integer()
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    last_duration_ms = fields.Integer(allow_none=True)
    next_attempt_at = UTCDateTime(allow_none=True, metadata={"description": "When pending"})
    created_at = UTCDateTime()
    delivered_at = UTCDateTime(allow_none=True)
    _links = fields.Nested(DeliveryLinks, data_key="_links")


class EventSchema(Schema):
    id = fields.String()
    type = fields.String()
    created_at = UTCDateTime()
    data = fields.Dict()


class DeliveryDetailSchema(DeliverySchema):
    event = fields.Nested(EventSchema, metadata={"description": "The body that is sent"})
    attempts = fields.List(fields.Nested(AttemptSchema))


class DeliveryListQuery(ListQuery):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    event_type = fields.String(validate=validate.OneOf([*EVENT_TYPES, PING]))


webhook_schema = WebhookSchema()
webhook_patch_schema = WebhookPatchSchema(partial=True)


def webhook_to_dict(row: Any) -> dict[str, Any]:
    base = f"/v1/webhooks/{row.id}"
    return {
        "id": row.id,
        "url": row.url,
        "event_types": list(row.event_types),
        "active": row.active,
        "description": row.description,
        "disabled_reason": row.disabled_reason,
        "created_at": format_datetime(row.created_at),
        "updated_at": format_datetime(row.updated_at),
        "_links": {
            "self": base,
            "deliveries": f"{base}/deliveries",
            "ping": f"{base}/ping",
            "rotate_secret": f"{base}/rotate-secret",
        },
    }


def delivery_to_dict(row: Any, event_type: str | None = None) -> dict[str, Any]:
    base = f"/v1/webhooks/{row.subscription_id}"
    return {
        "id": row.id,
        "event_id": row.event_id,
        "event_type": event_type or row.event_type,
        "status": row.status,
        "attempt_count": row.attempts,
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "last_duration_ms": row.last_duration_ms,
        "next_attempt_at": format_datetime(row.next_attempt_at)
        if row.status == "pending"
        else None,
        "created_at": format_datetime(row.created_at),
        "delivered_at": format_datetime(row.delivered_at),
        "_links": {
            "self": f"{base}/deliveries/{row.id}",
            "webhook": base,
            "redeliver": f"{base}/deliveries/{row.id}/redeliver",
        },
    }


def attempt_to_dict(row: Any) -> dict[str, Any]:
    return {
        "attempt": row.attempt_number,
        "started_at": format_datetime(row.started_at),
        "finished_at": format_datetime(row.finished_at),
        "duration_ms": row.duration_ms,
        "status_code": row.status_code,
        "error": row.error,
        "response_body": row.response_body,
    }
