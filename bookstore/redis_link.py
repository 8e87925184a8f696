"""A breaker around the shared Redis client, and the readiness probe.

Redis is an accelerator here, never a single point of failure: the rate limiter and the
response cache ask :func:`get_link` whether Redis is worth trying, report failures and
successes to it, and degrade to per-process behaviour while it is down. The client is
the app's shared one (:data:`bookstore.extensions.redis_client`: short timeouts, one
immediate retry), so an outage costs milliseconds, not seconds, per request.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable

import redis
from flask import Flask

from bookstore.extensions import redis_client

log = logging.getLogger("bookstore.redis")

# Any Redis failure (refused, timeout, loading, out of memory) degrades; it never fails a request.
UNAVAILABLE = (redis.RedisError, OSError)


def get_link(app: Flask) -> RedisLink | None:
    """The app's link to Redis, or None without ``REDIS_URL`` (embedded mode)."""
    link = app.extensions.get("bookstore_redis_link")
    if link is None:
        client = redis_client.get(app)
        if client is None:
            return None
        link = app.extensions["bookstore_redis_link"] = RedisLink(
            client, retry_interval=app.config.get("REDIS_RETRY_INTERVAL", 2.0)
        )
        # Close the sockets when the app goes away (tests build many apps), before the
        # garbage collector finalises them in arbitrary order and warns about each one.
        weakref.finalize(app, client.connection_pool.disconnect)
    return link


class RedisLink:
    """A client plus what this process last saw of Redis: up, or down until a retry time.

    While down, callers skip Redis entirely (no timeout per request); one caller per
    ``retry_interval`` is let through to probe, and its success closes the breaker.
    """

    def __init__(self, client: redis.Redis, retry_interval: float) -> None:
        self.client = client
        self.retry_interval = retry_interval
        self.down_since: float | None = None
        self._retry_at = 0.0
        # Called once when Redis answers again after an outage (the cache re-invalidates).
        self.on_recover: list[Callable[[], None]] = []

    @property
    def up(self) -> bool:
        return self.down_since is None

    def should_try(self) -> bool:
        if self.down_since is None:
            return True
        now = time.monotonic()
        if now >= self._retry_at:
            # Let this caller probe; the others keep skipping until the next interval.
            self._retry_at = now + self.retry_interval
            return True
        return False

    def failed(self, exc: BaseException, what: str) -> None:
        self._retry_at = time.monotonic() + self.retry_interval
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning(
                "Redis unreachable (%s during %s): rate limits fall back to per-process "
                "counters and the response cache is bypassed until it is back",
                exc.__class__.__name__,
                what,
            )

    def succeeded(self) -> None:
        if self.down_since is not None:
            outage = time.monotonic() - self.down_since
            self.down_since = None
            log.warning("Redis reachable again after %.1fs: shared limits and cache resume", outage)
            for callback in self.on_recover:
                callback()


def init_app(app: Flask) -> None:
    """Register the readiness probe; without Redis, say that limits and cache are local."""
    link = get_link(app)
    if link is None:
        log.warning(
            "REDIS_URL is not set: rate limits and the response cache are kept per process "
            "(each worker counts and caches on its own)"
        )
    _register_health_probe(app, link)


def _register_health_probe(app: Flask, link: RedisLink | None) -> None:
    """``/health/ready`` reports Redis: up, down (503) or not configured (embedded mode)."""

    def probe() -> dict[str, object]:
        if link is None:
            return {"status": "not_configured"}
        started = time.perf_counter()
        try:
            link.client.ping()
        except UNAVAILABLE as exc:
            link.failed(exc, "health check")
            return {"status": "down", "error": exc.__class__.__name__}
        link.succeeded()
        return {"status": "up", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}

    app.extensions.setdefault("bookstore_health", {})["redis"] = probe
