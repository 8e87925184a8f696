"""GET /metrics: counters that move with requests, in process and under a real gunicorn."""

from __future__ import annotations

import datetime as dt
import os
import signal
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from bookstore import openapi
from bookstore.db import reads
from bookstore.extensions import db
from bookstore.models import Order, WebhookDelivery, WebhookEvent, WebhookSubscription
from bookstore.serving import metrics
from tests.conftest import ROOT, LiveServer
from tests.faults.load import wait_until
from tests.ordering import ADDRESS


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return samples(response.get_data(as_text=True))


def test_requests_are_counted_by_route_template_method_and_status(client, make):
    book = make.book()
    before = scrape(client)
    for _ in range(3):
        assert client.get(f"/v1/books/{book.id}").status_code == 200
    assert client.get("/v1/books/999999").status_code == 404
    assert client.get("/no/such/path").status_code == 404
    assert client.open(f"/v1/books/{book.id}", method="BREW").status_code == 405
    after = scrape(client)
    route = "/v1/books/<int:book_id>"

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    total = "bookstore_http_requests_total"
    assert moved(total, route=route, method="GET", status="200") == 3
    assert moved(total, route=route, method="GET", status="404") == 1
    assert moved(total, route=metrics.UNMATCHED, method="GET", status="404") == 1
    assert moved(total, route=metrics.UNMATCHED, method="OTHER", status="405") == 1
    latency = "bookstore_http_request_duration_seconds_count"
    assert moved(latency, route=route, method="GET") == 4
    assert moved("bookstore_http_request_duration_seconds_sum", route=route, method="GET") > 0
    assert value(after, "bookstore_redis_breaker_open") == 0
    assert value(after, "bookstore_metrics_database_up") == 1


def test_pending_orders_and_the_webhook_outbox_are_counted_at_scrape_time(client, make):
    user = make.user()
    sub = WebhookSubscription(url="https://example.com/h", event_types=["*"], secret_encrypted="x")
    db.session.add(sub)
    db.session.flush()
    for n, status in enumerate(["pending", "pending", "delivering", "delivered", "failed"]):
        db.session.add(WebhookEvent(id=f"evt_{n}", type="order.created", payload="{}"))
        db.session.flush()
        db.session.add(WebhookDelivery(subscription_id=sub.id, event_id=f"evt_{n}", status=status))
    for status in ("pending", "pending", "cancelled"):
        db.session.add(
            Order(
                user_id=user.id,
                status=status,
                total=0,
                shipping_address=ADDRESS,
                **_cancelled(status),
            )
        )
    db.session.commit()
    found = scrape(client)
    assert value(found, "bookstore_orders_pending") == 2
    assert value(found, "bookstore_webhook_outbox_depth") == 3
    for status, count in {"pending": 2, "delivering": 1, "delivered": 1, "failed": 1}.items():
        assert value(found, "bookstore_webhook_deliveries", status=status) == count


def _cancelled(status: str) -> dict:
    return {"cancelled_at": dt.datetime.now(dt.UTC)} if status == "cancelled" else {}


def test_the_pool_gauges_read_both_pools_in_use(app, client):
    with app.app_context():
        session_engine, read_engine = reads.engines()
        held = [session_engine.connect(), read_engine.connect()]
        try:
            found = scrape(client)
        finally:
            for connection in held:
                connection.close()
    gauge = "bookstore_db_pool_connections_in_use"
    assert value(found, gauge, pool="session") >= 1
    assert value(found, gauge, pool="read") >= 1


def test_metrics_are_hidden_from_the_document_and_never_rate_limited(make_app):
    app = make_app(RATELIMIT_DEFAULT="2/minute")
    client = app.test_client()
    with app.app_context():
        assert "/metrics" not in openapi.build_spec(app)["paths"]
    statuses = [client.get("/metrics").status_code for _ in range(4)]
    assert statuses == [200] * 4
    assert [client.get("/v1").status_code for _ in range(3)][-1] == 429
    found = scrape(client)
    assert value(found, "bookstore_rate_limited_requests_total", route="/v1") >= 1


def test_metrics_enabled_false_answers_404(make_app):
    client = make_app(METRICS_ENABLED=False).test_client()
    response = client.get("/metrics")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "RESOURCE_NOT_FOUND"


@pytest.mark.e2e
def test_under_gunicorn_every_scrape_adds_up_both_workers(make):
    book = make.book()
    server = LiveServer(workers=2, env={"RATELIMIT_LOGIN_IP": "2/minute"}).start()
    folder = ROOT / "instance" / "prometheus" / f"gunicorn-{server.port}"
    try:
        workers = server.worker_pids()
        assert len(workers) == 2
        sent = 0
        # New connections until both workers have counted a request (bounded).
        while len(_pids_with_files(folder, "counter") & set(workers)) < 2:
            assert sent < 400, "one worker took every connection"
            assert requests.get(f"{server.url}/v1/books/{book.id}", timeout=10).ok
            sent += 1
        logins = [
            requests.post(
                f"{server.url}/v1/auth/login",
                json={"email": f"nobody{n}@example.com", "password": "x" * 12},
                timeout=10,
            ).status_code
            for n in range(3)
        ]
        assert logins[-1] == 429
        route = "/v1/books/<int:book_id>"
        for _ in range(4):  # whichever worker answers, it reports both workers' counts
            found = samples(requests.get(f"{server.url}/metrics", timeout=10).text)
            assert (
                value(
                    found, "bookstore_http_requests_total", route=route, method="GET", status="200"
                )
                == sent
            )
            assert (
                value(found, "bookstore_rate_limited_requests_total", route="/v1/auth/login") == 1
            )
            assert value(found, "bookstore_db_pool_connections_in_use", pool="session") >= 0
        # A worker that dies leaves its counts but no live gauge behind (child_exit).
        victim = workers[0]
        assert victim in _pids_with_files(folder, "gauge_livesum")
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in _pids_with_files(folder, "gauge_livesum"))
        wait_until(lambda: len(server.worker_pids()) == 2 and victim not in server.worker_pids())
        found = samples(requests.get(f"{server.url}/metrics", timeout=10).text)
        assert (
            value(found, "bookstore_http_requests_total", route=route, method="GET", status="200")
            == sent
        )
    finally:
        server.stop()


def _pids_with_files(folder: Path, kind: str) -> set[int]:
    return {int(path.stem.rsplit("_", 1)[1]) for path in folder.glob(f"{kind}_*.db")}
