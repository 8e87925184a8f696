"""Prometheus metrics: the request hooks that count, and the collectors read at scrape time.

Under gunicorn each worker is a process: with ``PROMETHEUS_MULTIPROC_DIR`` set (by
gunicorn.conf.py) prometheus_client keeps every worker's values in files there and a
scrape, whichever worker answers it, adds them up. Without it (``flask run``, the tests'
app) the values live in this process. What the database knows (webhook outbox, pending
orders) is counted by the scrape itself, so every worker reports the same figures.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from bookstore.db.reads import engines
from bookstore.extensions import db
from bookstore.models import Order, WebhookDelivery
from bookstore.redis import client as redis_client_module
from bookstore.web.requests import current_request

log = logging.getLogger("bookstore.metrics")
# No `_created` series: they double the output and no dashboard here reads them.
disable_created_metrics()

_STARTED = "bookstore.metrics.started"
# Read once, as prometheus_client itself does when first imported: the mode of the values.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
UNMATCHED = "<unmatched>"  # no route: one label for every unknown path, not one per path
# Any other method a client invents is counted as one label, not one each.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "bookstore_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "bookstore_http_request_duration_seconds",
    "Time from the first request hook to the response, by route template and method",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RATE_LIMITED = Counter(
    "bookstore_rate_limited_requests",
    "Requests refused with 429 by the rate limiter, by route template",
    ["route"],
)
DB_POOL_IN_USE = Gauge(
    "bookstore_db_pool_connections_in_use",
    "Database connections checked out, by pool: the sessions' and the read path's "
    "(sampled at each response, summed over live workers)",
    ["pool"],
    multiprocess_mode="livesum",
)
REDIS_BREAKER_OPEN = Gauge(
    "bookstore_redis_breaker_open",
    "1 while any worker treats Redis as down (local limits, no shared cache), else 0",
    multiprocess_mode="livemax",
)


def redis_link(app: Flask) -> Any:
    """The app's Redis breaker, or None, through its public getter only (``get_link``).

    Tolerant: if the breaker module changes shape, the metric goes missing, no more.
    """
    get_link = getattr(redis_client_module, "get_link", None)
    if get_link is None:
        return None
    try:
        return get_link(app)
    except Exception:  # noqa: BLE001 - a metric must never fail the app
        return None


def breaker_open(link: Any) -> float | None:
    """1.0 if the breaker is open (Redis treated as down), 0.0 if closed, None if unknown."""
    up = getattr(link, "up", None) if link is not None else None
    return None if not isinstance(up, bool) else (0.0 if up else 1.0)


def pool_in_use(engine: Any = None) -> int | None:
    """Connections checked out of the engine's pool (SQLAlchemy's ``Pool.checkedout()``)."""
    checkedout = getattr((engine or db.engine).pool, "checkedout", None)
    return checkedout() if callable(checkedout) else None


# Counts forks (os.getpid() is a system call; this is a list read).
_forks = [0]
os.register_at_fork(after_in_child=lambda: _forks.__setitem__(0, _forks[0] + 1))


class Observer:
    """The request hooks of one app, with what they read looked up once."""

    def __init__(self, app: Flask) -> None:
        with app.app_context():
            # Their pools are read on each sample: dispose() replaces an engine's pool.
            self.pools = dict(zip(("session", "read"), engines(), strict=False))
        self.link = redis_link(app)
        # Label children by their values: looking one up costs more than counting.
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._latency: dict[tuple[str, str], Any] = {}
        self._last: dict[str, tuple[int, float]] = {}

    def start(self) -> None:
        current_request().environ[_STARTED] = time.perf_counter()

    def observe(self, response: Any) -> Any:
        req = current_request()
        started = req.environ.get(_STARTED)
        rule = req.url_rule
        route = rule.rule if rule is not None else UNMATCHED
        method = req.method if req.method in METHODS else "OTHER"
        status = response.status_code
        counter = self._requests.get((route, method, status))
        if counter is None:
            counter = self._requests[(route, method, status)] = REQUESTS.labels(
                route, method, str(status)
            )
        counter.inc()
        if started is not None:
            histogram = self._latency.get((route, method))
            if histogram is None:
                histogram = self._latency[(route, method)] = LATENCY.labels(route, method)
            histogram.observe(time.perf_counter() - started)
        if status == 429:
            RATE_LIMITED.labels(route).inc()
        self.sample()
        return response

    def sample(self) -> None:
        """This process's pool and breaker state, written only when it changed."""
        for name, engine in self.pools.items():
            self._set(DB_POOL_IN_USE.labels(name), name, pool_in_use(engine))
        self._set(REDIS_BREAKER_OPEN, "breaker", breaker_open(self.link))

    def _set(self, gauge: Any, name: str, value: float | None) -> None:
        if value is None:
            return
        generation = _forks[0]  # a forked worker writes its own value, even an unchanged one
        if self._last.get(name) != (generation, value):
            gauge.set(value)
            self._last[name] = (generation, value)


class DatabaseCollector(Collector):
    """Counts the database holds, queried when scraped: the same from every worker."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "bookstore_metrics_database_up", "1 if the scrape could count rows, else 0"
        )
        try:
            deliveries = dict(
                db.session.execute(
                    select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
                ).all()
            )
            pending_orders = db.session.execute(
                select(func.count()).select_from(Order).where(Order.status == "pending")
            ).scalar_one()
        except Exception as exc:  # noqa: BLE001 - the scrape still reports the process metrics
            db.session.rollback()
            log.warning("metrics: cannot count rows (%s)", exc.__class__.__name__)
            up.add_metric([], 0)
            yield up
            return
        finally:
            db.session.commit()  # ends the read transaction: nothing held between scrapes
        up.add_metric([], 1)
        yield up
        by_status = GaugeMetricFamily(
            "bookstore_webhook_deliveries",
            "Webhook deliveries by status (delivered and failed are the outcomes so far)",
            labels=["status"],
        )
        for status in ("pending", "delivering", "delivered", "failed"):
            by_status.add_metric([status], deliveries.get(status, 0))
        yield by_status
        yield GaugeMetricFamily(
            "bookstore_webhook_outbox_depth",
            "Webhook deliveries not yet delivered or given up (pending or delivering)",
            value=deliveries.get("pending", 0) + deliveries.get("delivering", 0),
        )
        yield GaugeMetricFamily(
            "bookstore_orders_pending", "Orders placed and not yet paid", value=pending_orders
        )


def exposition(app: Flask) -> bytes:
    """The text format: every worker's metrics (or this process's), then the row counts."""
    observer = app.extensions.get("bookstore_metrics")
    if observer is not None:
        observer.sample()  # this worker's latest state, even with no request since
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(DatabaseCollector(app))
    if MULTIPROCESS:
        multiprocess.MultiProcessCollector(scrape)
        return generate_latest(scrape)
    return generate_latest(REGISTRY) + generate_latest(scrape)


def init_app(app: Flask) -> None:
    """Count every request: first before-request hook, and a response hook."""
    if not app.config["METRICS_ENABLED"]:
        return
    observer = app.extensions["bookstore_metrics"] = Observer(app)
    # First, so the clock starts before the rate limiter or the cache can answer.
    app.before_request_funcs.setdefault(None, []).insert(0, observer.start)
    app.after_request(observer.observe)
