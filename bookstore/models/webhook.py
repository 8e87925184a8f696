"""Webhooks: subscriptions, the outbox of events, deliveries and their attempt log."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bookstore.extensions import db
from bookstore.models.base import TimestampMixin, utcnow

DELIVERY_STATUSES = ("pending", "delivering", "delivered", "failed")
# The events of the contract a subscription may choose from ("ping" is sent on request only).
EVENT_TYPES = (
    "order.created",
    "order.paid",
    "order.cancelled",
    "order.shipped",
    "order.expired",
    "book.created",
    "book.updated",
    "book.deleted",
    "book.low_stock",
)


class WebhookSubscription(TimestampMixin, db.Model):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    event_types: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    active: Mapped[bool] = mapped_column(nullable=False, default=True)
    description: Mapped[str | None] = mapped_column(String(500))
    # Why the server deactivated it (410 Gone); cleared when an admin reactivates it.
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    # The signing secret, encrypted with a key derived from SECRET_KEY (Fernet).
    secret_encrypted: Mapped[str] = mapped_column(String(500), nullable=False)


class WebhookEvent(db.Model):
    """The outbox: one row per event, written in the transaction of the change."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_created_at", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(50), nullable=False)
    # The exact JSON body every delivery of this event sends, so retries are byte-identical.
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, nullable=False
    )


class WebhookDelivery(TimestampMixin, db.Model):
    """One event to one subscription: a small state machine driven by the worker."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'delivering', 'delivered', 'failed')", name="status"
        ),
        # The worker's claim: due pending rows and expired leases, oldest first.
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription_id_id", "subscription_id", "id"),
        Index("ix_webhook_deliveries_event_id", "event_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), nullable=False
    )
    event_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    # Incremented when a worker claims the delivery; doubles as the fencing token.
    attempts: Mapped[int] = mapped_column(nullable=False, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )
    leased_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_duration_ms: Mapped[int | None]
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class DeliveryAttempt(db.Model):
    __tablename__ = "webhook_delivery_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "attempt_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False
    )
    attempt_number: Mapped[int] = mapped_column(nullable=False)
    started_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, nullable=False
    )
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int | None]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(500))
    response_body: Mapped[str | None] = mapped_column(Text)
