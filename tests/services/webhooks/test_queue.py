"""The queue: backoff, classification, leases that expire, and fencing of stale workers."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import select, text, update

from bookstore.extensions import db
from bookstore.models import DeliveryAttempt, WebhookDelivery
from bookstore.models.base import utcnow
from bookstore.services import outbox
from bookstore.services.webhooks import queue
from bookstore.services.webhooks.sender import Outcome, retry_after_seconds
from tests.webhook_support import deliver_due, subscribe

pytestmark = pytest.mark.usefixtures("fast_webhooks")


def test_backoff_is_full_jitter_under_an_exponential_ceiling(app_ctx, app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_BACKOFF_BASE", 10.0)
    monkeypatch.setitem(app.config, "WEBHOOK_BACKOFF_CAP", 3600.0)
    rng = random.Random(7)
    for attempt, ceiling in [
        (1, 10),
        (2, 20),
        (3, 40),
        (7, 640),
        (9, 2560),
        (10, 3600),
        (500, 3600),
    ]:
        samples = [queue.backoff(attempt, rng) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.9 and min(samples) < ceiling * 0.1  # spread out


@pytest.mark.parametrize(
    ("outcome", "attempt", "status"),
    [
        (Outcome(status_code=200), 1, "delivered"),
        (Outcome(status_code=204), 8, "delivered"),
        (Outcome(status_code=500), 1, "pending"),
        (Outcome(status_code=503), 8, "failed"),
        (Outcome(status_code=429), 1, "pending"),
        (Outcome(status_code=408), 1, "pending"),
        (Outcome(error="ReadTimeoutError: x"), 1, "pending"),
        (Outcome(error="UnsafeURL: x", permanent=True), 1, "failed"),
        (Outcome(status_code=400), 1, "failed"),
        (Outcome(status_code=404), 1, "failed"),
        (Outcome(status_code=410), 1, "failed"),
        (Outcome(status_code=302), 1, "failed"),
    ],
)
def test_classify(app_ctx, app, monkeypatch, outcome, attempt, status):
    monkeypatch.setitem(app.config, "WEBHOOK_MAX_ATTEMPTS", 8)
    assert queue.classify(outcome, attempt)[0] == status


def test_retry_after_is_capped(app_ctx, app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_BACKOFF_CAP", 60.0)
    assert queue.classify(Outcome(status_code=429, retry_after=5.0), 1) == ("pending", 5.0)
    assert queue.classify(Outcome(status_code=429, retry_after=1e6), 1) == ("pending", 60.0)


def test_retry_after_parsing():
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=100)).strftime(
        "%a, %d %b %Y %H:%M:%S GMT"
    )
    assert 95 <= retry_after_seconds(later) <= 101
    assert retry_after_seconds("Mon, 01 Jan 2001 00:00:00 GMT") == 0.0


@pytest.fixture
def queued(app, client, admin_headers, receiver):
    webhook_id, receiver.secret = subscribe(client, admin_headers, receiver.url, ["order.paid"])
    with app.app_context():
        outbox.emit("order.paid", {"id": 1, "status": "paid"})
        db.session.commit()
    return webhook_id


def expire_leases() -> None:
    db.session.execute(
        update(WebhookDelivery).values(leased_until=utcnow() - dt.timedelta(seconds=1))
    )
    db.session.commit()


def attempts_log() -> list[tuple[int, int | None, str | None]]:
    rows = db.session.execute(
        select(
            DeliveryAttempt.attempt_number, DeliveryAttempt.status_code, DeliveryAttempt.error
        ).order_by(DeliveryAttempt.attempt_number)
    )
    return [tuple(row) for row in rows]


def test_a_lost_lease_is_retried_and_logged_and_the_stale_worker_is_fenced(app, queued, receiver):
    with app.app_context():
        stale = queue.claim_next(utcnow())  # a worker claims, then "dies"
        assert stale.attempt == 1
    assert deliver_due(app) == {}  # leased: nobody else takes it
    with app.app_context():
        expire_leases()
    assert deliver_due(app) == {"delivered": 1}
    assert receiver.wait_for(1)[0].signature_ok
    with app.app_context():
        assert attempts_log() == [(1, None, queue.LOST), (2, 200, None)]
        # The first worker wakes up and reports: its attempt is logged, the state is not touched.
        assert queue.finish(stale, Outcome(status_code=500)) == "superseded"
        db.session.expire_all()
        delivery = db.session.execute(select(WebhookDelivery)).scalar_one()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
            "delivered",
            2,
            200,
        )
        assert attempts_log() == [(1, 500, None), (2, 200, None)]


def test_leases_lost_until_attempts_run_out_fail_the_delivery(app, queued, receiver, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_MAX_ATTEMPTS", 1)
    with app.app_context():
        queue.claim_next(utcnow())
        expire_leases()
    assert deliver_due(app) == {"failed": 1}
    assert receiver.received == []
    with app.app_context():
        delivery = db.session.execute(select(WebhookDelivery)).scalar_one()
        assert delivery.status == "failed" and delivery.last_error == queue.LOST


def test_purge_keeps_events_with_unsettled_deliveries(app, queued, client, admin_headers):
    from bookstore.models import WebhookEvent

    with app.app_context():
        outbox.emit("book.created", {"id": 9})  # no subscriber: settled by definition
        db.session.commit()
        future = utcnow() + dt.timedelta(days=1)
        assert queue.purge(future) == 1  # the order.paid event is still pending
        assert db.session.execute(select(WebhookEvent.type)).scalars().all() == ["order.paid"]
    deliver_due(app)
    with app.app_context():
        assert queue.purge(utcnow() - dt.timedelta(days=1)) == 0  # too recent
        assert queue.purge(future) == 1
        assert db.session.execute(select(WebhookDelivery)).first() is None


def test_claim_skips_a_row_another_worker_holds(app, client, admin_headers, receiver):
    subscribe(client, admin_headers, receiver.url, ["order.paid"])
    with app.app_context():
        for n in (1, 2):
            outbox.emit("order.paid", {"id": n})
        db.session.commit()
        first, second = db.session.execute(
            select(WebhookDelivery.id).order_by(WebhookDelivery.id)
        ).scalars()
        if db.engine.dialect.name != "postgresql":
            pytest.skip("row locks are PostgreSQL's; SQLite serialises writers")
        with db.engine.connect() as other:  # another worker, mid-claim on the first row
            other.execute(
                select(WebhookDelivery.id).where(WebhookDelivery.id == first).with_for_update()
            )
            db.session.execute(text("SET LOCAL lock_timeout = '2s'"))  # fail, never hang
            claim = queue.claim_next(utcnow())
            other.rollback()
        assert claim.delivery_id == second


def test_the_worker_runs_on_sqlite_too(tmp_path, receiver, monkeypatch):
    """The embedded default: the claim is one UPDATE, SQLite serialises the writers."""
    from flask_migrate import upgrade

    from bookstore import create_app
    from tests.webhook_support import FAST

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'hooks.db'}")
    lite = create_app(FAST)
    with lite.app_context():
        upgrade()
        webhook, receiver.secret = _sqlite_subscription(receiver.url)
        db.session.add(webhook)
        db.session.flush()
        outbox.emit("order.shipped", {"id": 7})
        outbox.emit("order.shipped", {"id": 8})
        db.session.commit()
        stale = queue.claim_next(utcnow())
        assert deliver_due(lite) == {"delivered": 1}  # the other one is leased
        expire_leases()
        assert deliver_due(lite) == {"delivered": 1}
        assert queue.finish(stale, Outcome(status_code=200)) == "superseded"
        db.session.remove()
        db.engine.dispose()
    assert [r.json["data"]["id"] for r in receiver.received] == [8, 7]
    assert all(r.signature_ok for r in receiver.received)


def _sqlite_subscription(url: str):
    from bookstore.models import WebhookSubscription
    from bookstore.services.webhooks.signing import encrypt_secret, new_secret

    secret = new_secret()
    webhook = WebhookSubscription(
        url=url, event_types=["order.shipped"], secret_encrypted=encrypt_secret(secret)
    )
    return webhook, secret
