"""The delivery queue: claim with a lease, record each attempt, schedule retries.

A worker claims one due delivery at a time in a short transaction (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so concurrent workers never take the same row; SQLite serialises
writers, and the claim is a single ``UPDATE``). The claim sets a lease: if the worker dies
before reporting, the delivery becomes due again when the lease expires. ``attempts``
is bumped by the claim and serves as a fencing token: a worker whose lease was taken
over cannot overwrite the newer state.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import and_, delete, insert, or_, select, update

from bookstore.extensions import db
from bookstore.models.base import utcnow
from bookstore.models.webhook import (
    DeliveryAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from bookstore.services.webhooks.sender import Outcome

deliveries = WebhookDelivery.__table__
attempts = DeliveryAttempt.__table__
events = WebhookEvent.__table__
subscriptions = WebhookSubscription.__table__

LOST = "WorkerLost: the lease expired before the attempt was reported"
GONE = "The receiver answered 410 Gone"


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    attempt: int
    attempt_id: int | None
    subscription_id: int
    event_id: str


def backoff(attempt: int, rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))] seconds."""
    cfg = current_app.config
    exponential = cfg["WEBHOOK_BACKOFF_BASE"] * 2 ** min(attempt - 1, 60)
    ceiling = min(cfg["WEBHOOK_BACKOFF_CAP"], exponential)
    return (rng or random).uniform(0, ceiling)


def claim_next(cutoff: dt.datetime) -> Claim | None:
    """Lease the oldest delivery due at ``cutoff``; commit; None when nothing is due."""
    cfg = current_app.config
    now = utcnow()
    d = deliveries.c
    due = or_(
        and_(d.status == "pending", d.next_attempt_at <= cutoff),
        and_(d.status == "delivering", d.leased_until <= cutoff),
    )
    active = select(subscriptions.c.id).where(subscriptions.c.active.is_(True))
    candidate = (
        select(d.id)
        .where(due, d.subscription_id.in_(active))
        .order_by(d.next_attempt_at, d.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    claimed = db.session.execute(
        update(deliveries)
        .where(d.id == candidate)
        .values(
            status="delivering",
            attempts=d.attempts + 1,
            leased_until=now + dt.timedelta(seconds=cfg["WEBHOOK_LEASE_SECONDS"]),
            updated_at=now,
        )
        .returning(d.id, d.attempts, d.subscription_id, d.event_id)
    ).first()
    if claimed is None:
        db.session.commit()
        return None
    # An attempt still open here belonged to a worker that died or lost its lease.
    db.session.execute(
        update(attempts)
        .where(attempts.c.delivery_id == claimed.id, attempts.c.finished_at.is_(None))
        .values(finished_at=now, error=LOST)
    )
    attempt_id = None
    if claimed.attempts > cfg["WEBHOOK_MAX_ATTEMPTS"]:
        _settle(claimed.id, claimed.attempts, "failed", error=LOST, now=now)
    else:
        attempt_id = db.session.execute(
            insert(attempts)
            .values(delivery_id=claimed.id, attempt_number=claimed.attempts, started_at=now)
            .returning(attempts.c.id)
        ).scalar_one()
    db.session.commit()
    return Claim(
        claimed.id, claimed.attempts, attempt_id, claimed.subscription_id, claimed.event_id
    )


def load(claim: Claim) -> Any:
    """The subscription's URL and secret and the event body, or None if it was deleted."""
    row = db.session.execute(
        select(
            subscriptions.c.url,
            subscriptions.c.secret_encrypted,
            events.c.type,
            events.c.payload,
        )
        .select_from(deliveries.join(subscriptions).join(events))
        .where(deliveries.c.id == claim.delivery_id)
    ).first()
    db.session.commit()  # no transaction stays open while the receiver is called
    return row


def classify(outcome: Outcome, attempt: int) -> tuple[str, float | None]:
    """(new status, retry delay): 2xx delivered; 408/429/5xx and network errors retried."""
    cfg = current_app.config
    code = outcome.status_code
    if code is not None and 200 <= code < 300:
        return "delivered", None
    retryable = (
        (code is None and not outcome.permanent)
        or code in (408, 429)
        or (code is not None and code >= 500)
    )
    if not retryable or attempt >= cfg["WEBHOOK_MAX_ATTEMPTS"]:
        return "failed", None
    if code == 429 and outcome.retry_after is not None:
        return "pending", min(outcome.retry_after, cfg["WEBHOOK_BACKOFF_CAP"])
    return "pending", backoff(attempt)


def finish(claim: Claim, outcome: Outcome) -> str:
    """Record the attempt and move the delivery on; returns the new status.

    ``superseded`` means the lease had expired and another worker took the delivery over:
    the attempt is still logged, but the delivery's state is left to the newer claim.
    """
    now = utcnow()
    status, delay = classify(outcome, claim.attempt)
    db.session.execute(
        update(attempts)
        .where(attempts.c.id == claim.attempt_id)
        .values(
            finished_at=now,
            duration_ms=outcome.duration_ms,
            status_code=outcome.status_code,
            error=outcome.error,
            response_body=outcome.response_body,
        )
    )
    settled = _settle(
        claim.delivery_id,
        claim.attempt,
        status,
        error=outcome.error,
        code=outcome.status_code,
        duration_ms=outcome.duration_ms,
        next_at=now + dt.timedelta(seconds=delay) if delay is not None else None,
        now=now,
    )
    if outcome.status_code == 410:
        db.session.execute(
            update(subscriptions)
            .where(subscriptions.c.id == claim.subscription_id)
            .values(active=False, disabled_reason=GONE, updated_at=now)
        )
    db.session.commit()
    return status if settled else "superseded"


def _settle(
    delivery_id: int,
    attempt: int,
    status: str,
    *,
    now: dt.datetime,
    error: str | None = None,
    code: int | None = None,
    duration_ms: int | None = None,
    next_at: dt.datetime | None = None,
) -> bool:
    d = deliveries.c
    result = db.session.execute(
        update(deliveries)
        # The fencing check: only the holder of the latest claim may settle it.
        .where(d.id == delivery_id, d.status == "delivering", d.attempts == attempt)
        .values(
            status=status,
            leased_until=None,
            next_attempt_at=next_at,
            last_status_code=code,
            last_error=error,
            last_duration_ms=duration_ms,
            delivered_at=now if status == "delivered" else None,
            updated_at=now,
        )
    )
    return result.rowcount == 1


def purge(before: dt.datetime) -> int:
    """Delete events older than ``before`` with no delivery still to send (cascades)."""
    unsettled = (
        select(deliveries.c.id)
        .where(
            deliveries.c.event_id == events.c.id,
            deliveries.c.status.in_(("pending", "delivering")),
        )
        .exists()
    )
    result = db.session.execute(delete(events).where(events.c.created_at < before, ~unsettled))
    db.session.commit()
    return result.rowcount
