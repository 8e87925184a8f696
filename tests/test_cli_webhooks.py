"""``flask webhooks work`` as real processes: killed mid-delivery, stopped, and in pairs."""

from __future__ import annotations

import datetime as dt
import re
import signal
import time
from collections import Counter

import pytest
from sqlalchemy import select, update

from bookstore.extensions import db
from bookstore.models import WebhookDelivery
from bookstore.services import outbox
from tests.webhook_support import Reply, deliver_due, start_worker, subscribe

pytestmark = pytest.mark.usefixtures("fast_webhooks")
# Long enough to hold a delivery in flight, short enough to wait out.
SHORT_LEASE = {
    "WEBHOOK_CONNECT_TIMEOUT": "0.25",
    "WEBHOOK_READ_TIMEOUT": "2",
    "WEBHOOK_LEASE_SECONDS": "3",
}


@pytest.fixture
def hook(client, admin_headers, receiver):
    webhook_id, receiver.secret = subscribe(client, admin_headers, receiver.url, ["order.paid"])
    return webhook_id


def emit(app, count: int) -> None:
    with app.app_context():
        for n in range(count):
            outbox.emit("order.paid", {"id": n + 1, "status": "paid"})
        db.session.commit()


def processed(output: str) -> int:
    match = re.search(r"Processed (\d+) deliveries", output)
    assert match, output
    return int(match.group(1))


def all_deliveries(app) -> list[WebhookDelivery]:
    with app.app_context():
        return list(db.session.execute(select(WebhookDelivery)).scalars())


def test_killed_worker_loses_nothing(app, client, admin_headers, receiver, hook):
    receiver.reply(Reply(200, delay=30))  # the first answer never comes in time
    emit(app, 1)
    doomed = start_worker(**SHORT_LEASE)
    try:
        receiver.wait_for(1, timeout=20)
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.communicate()
    [delivery] = all_deliveries(app)
    assert delivery.status == "delivering" and delivery.attempts == 1
    assert deliver_due(app) == {}  # still leased: nobody else sends it yet

    leased_until = delivery.leased_until.astimezone(dt.UTC)
    time.sleep(max(0.0, (leased_until - dt.datetime.now(dt.UTC)).total_seconds()) + 0.1)
    rescuer = start_worker("--once", **SHORT_LEASE)
    out, err = rescuer.communicate(timeout=60)
    assert rescuer.returncode == 0, err
    assert processed(out) == 1

    first, second = receiver.wait_for(2)
    assert first.event_id == second.event_id and second.signature_ok
    path = f"/v1/webhooks/{hook}/deliveries/{delivery.id}"
    data = client.get(path, headers=admin_headers).get_json()["data"]
    assert data["status"] == "delivered" and data["attempt_count"] == 2
    lost, delivered = data["attempts"]
    assert lost["error"].startswith("WorkerLost") and lost["status_code"] is None
    assert delivered["status_code"] == 200


def test_two_workers_never_deliver_the_same_delivery_twice(app, receiver, hook):
    emit(app, 30)
    # Both workers are up and polling when the 30 deliveries fall due at the same moment.
    due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)
    with app.app_context():
        db.session.execute(update(WebhookDelivery).values(next_attempt_at=due))
        db.session.commit()
    workers = [start_worker("--poll-interval", "0.02") for _ in range(2)]
    try:
        with receiver.arrived:
            receiver.arrived.wait_for(lambda: len(receiver.received) >= 30, timeout=60)
        time.sleep(0.3)  # let a duplicate, if any, arrive
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=30) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], [err for _, err in outputs]
    counts = [processed(out) for out, _ in outputs]

    seen = Counter(request.event_id for request in receiver.received)
    assert len(seen) == 30 and set(seen.values()) == {1}
    assert all(request.signature_ok for request in receiver.received)
    rows = all_deliveries(app)
    assert {(row.status, row.attempts) for row in rows} == {("delivered", 1)}
    assert sum(counts) == 30 and min(counts) > 0, counts  # both really worked, side by side


def test_sigterm_finishes_the_current_delivery_then_exits(app, receiver, hook):
    receiver.reply(Reply(200, delay=1.0))
    emit(app, 2)
    worker = start_worker(**SHORT_LEASE)
    receiver.wait_for(1, timeout=20)
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=20)
    assert worker.returncode == 0, err
    assert "Processed 1 deliveries: 1 delivered." in out
    statuses = sorted(row.status for row in all_deliveries(app))
    assert statuses == ["delivered", "pending"]  # the second one waits for the next worker


def test_purge_command(app):
    emit(app, 1)
    result = app.test_cli_runner().invoke(args=["webhooks", "purge", "--days", "1"])
    assert result.exit_code == 0 and "Deleted 0 events" in result.output
