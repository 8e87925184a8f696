"""The webhook worker: claim a due delivery, sign it, POST it, record the attempt, repeat.

Run it with ``flask webhooks work`` beside the web processes (``make run`` does); several
may run at once. SIGTERM or SIGINT stops it after the current delivery, which the
connect and read timeouts bound; SIGKILL is safe too: the lease brings the delivery back.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter
from typing import Any

from flask import current_app
from sqlalchemy.exc import OperationalError

from bookstore.extensions import db
from bookstore.models.base import utcnow
from bookstore.services.webhooks import queue
from bookstore.services.webhooks.sender import Outcome, send
from bookstore.services.webhooks.signing import (
    SIGNATURE_HEADER,
    SecretUnavailable,
    decrypt_secret,
    signature_header,
)
from bookstore.services.webhooks.urls import UnsafeURL, check_url

log = logging.getLogger("bookstore.webhooks")


def attempt(claim: queue.Claim, row: Any) -> Outcome:
    """Check the URL again (DNS may have changed), sign and send one attempt."""
    cfg = current_app.config
    try:
        target = check_url(
            row.url,
            require_https=cfg["WEBHOOK_REQUIRE_HTTPS"],
            allow_private=cfg["WEBHOOK_ALLOW_PRIVATE"],
        )
        secret = decrypt_secret(row.secret_encrypted)
    except UnsafeURL as exc:
        # An unresolvable host may come back; an address we refuse will not be accepted.
        permanent = exc.code != "UNRESOLVABLE_HOST"
        return Outcome(error=f"UnsafeURL: {exc.message}"[:500], permanent=permanent)
    except SecretUnavailable as exc:
        return Outcome(error=f"SecretUnavailable: {exc}", permanent=True)
    body = row.payload.encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature_header(secret, int(time.time()), body),
        "X-Bookstore-Event-Id": claim.event_id,
        "X-Bookstore-Event-Type": row.type,
        "X-Bookstore-Delivery-Id": str(claim.delivery_id),
    }
    return send(
        target,
        body,
        headers,
        connect_timeout=cfg["WEBHOOK_CONNECT_TIMEOUT"],
        read_timeout=cfg["WEBHOOK_READ_TIMEOUT"],
    )


def process_one(cutoff: Any) -> str | None:
    """Deliver one due delivery; its new status, or None when nothing was due."""
    claim = queue.claim_next(cutoff)
    if claim is None:
        return None
    if claim.attempt_id is None:
        log.warning("delivery %s failed: attempts exhausted by lost leases", claim.delivery_id)
        return "failed"
    row = queue.load(claim)
    if row is None:  # the subscription was deleted meanwhile (deliveries cascade)
        return "skipped"
    outcome = attempt(claim, row)
    status = queue.finish(claim, outcome)
    log.info(
        "webhook delivery %s attempt %s: %s",
        claim.delivery_id,
        claim.attempt,
        outcome.status_code or outcome.error,
        extra={
            "delivery_id": claim.delivery_id,
            "event_id": claim.event_id,
            "attempt": claim.attempt,
            "status": status,
            "duration_ms": outcome.duration_ms,
        },
    )
    return status


def run(
    stop: threading.Event, *, once: bool = False, poll_interval: float | None = None
) -> Counter:
    """Deliver until ``stop`` is set; with ``once``, only what was due at the start."""
    interval = poll_interval or current_app.config["WEBHOOK_POLL_INTERVAL"]
    started = utcnow()
    totals: Counter = Counter()
    while not stop.is_set():
        try:
            status = process_one(started if once else utcnow())
        except OperationalError:
            db.session.rollback()
            if once:
                raise
            log.exception("webhook worker: database unavailable; retrying")
            stop.wait(max(interval, 5))
            continue
        finally:
            db.session.close()
        if status is not None:
            totals[status] += 1
        elif once:
            break
        else:
            stop.wait(interval)
    return totals


def install_signal_handlers(
    stop: threading.Event, message: str = "webhook worker: stopping after the current delivery"
) -> None:
    """SIGTERM and SIGINT set ``stop`` (logging ``message`` once): a loop ends its step."""

    def handle(signum: int, frame: Any) -> None:
        # Repeated signals change nothing: ``make run`` sends SIGTERM after Ctrl-C's SIGINT.
        if not stop.is_set():
            log.info(message)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
