"""The app's one Redis client and the circuit breaker around it, and the readiness probe.

Redis is an accelerator here, never a single point of failure: the rate limiter, the
response cache and the token checks ask the app's :class:`RedisLink` whether Redis is
worth trying (:meth:`RedisLink.run`), and degrade (per-process counting, no cache, the
database) while it is down. The client has short timeouts and one immediate retry, so an
outage costs milliseconds, not seconds, per request; while the breaker is open Redis is
skipped entirely, and one caller per retry interval probes it again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from flask import Flask, current_app
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger("bookstore.redis")

T = TypeVar("T")
EXTENSION = "bookstore_redis"
# Any Redis failure (refused, timeout, loading, out of memory) degrades; it never fails a request.
UNAVAILABLE = (redis.RedisError, OSError)
# allkeys-* may drop keys without a TTL (the cache generation); volatile-* may drop the
# revocation markers (they have one). Only noeviction keeps security-relevant keys.
SAFE_EVICTION = "noeviction"


def make_client(url: str, timeout_ms: int) -> redis.Redis:
    """Short socket timeouts and a single immediate retry (to replace a closed connection)."""
    timeout = timeout_ms / 1000
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
    )


class RedisLink:
    """A client plus what this process last saw of Redis: up, or down until a retry time."""

    def __init__(self, client: redis.Redis, retry_interval: float) -> None:
        self.client = client
        self.retry_interval = retry_interval
        self._local = threading.local()
        # Weak: a finished thread's client is collected and hands its connection back.
        self._thread_clients: weakref.WeakSet[redis.Redis] = weakref.WeakSet()
        self._thread_clients_lock = threading.Lock()
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

    def thread_client(self) -> redis.Redis:
        """This thread's client, holding one connection of the shared pool for itself.

        A request's calls then skip the pool's checkout and release; a client made before a
        fork is never reused by the child, whose socket it would share.
        """
        local = self._local
        pid = os.getpid()
        if getattr(local, "pid", None) != pid:
            # Takes (and connects) its connection now: raises while Redis is down.
            client = redis.Redis(
                connection_pool=self.client.connection_pool, single_connection_client=True
            )
            with self._thread_clients_lock:
                self._thread_clients.add(client)
            local.client, local.pid = client, pid
        return local.client  # type: ignore[no-any-return]

    def close(self) -> None:
        """Hand the threads' connections back and close every socket of the pool."""
        with self._thread_clients_lock:
            clients, self._thread_clients = list(self._thread_clients), weakref.WeakSet()
        for client in clients:
            client.close()
        self.client.connection_pool.disconnect()

    def run(self, what: str, call: Callable[[redis.Redis], T]) -> T | None:
        """``call(client)`` through the breaker: None when skipped or when Redis failed."""
        if not self.should_try():
            return None
        try:
            result = call(self.thread_client())
        except UNAVAILABLE as exc:
            self.failed(exc, what)
            return None
        self.succeeded()
        return result


def init_app(app: Flask) -> None:
    """Create the app's link (None without ``REDIS_URL``) and register the readiness probe."""
    link = None
    url = app.config.get("REDIS_URL")
    if url:
        client = make_client(url, app.config["REDIS_TIMEOUT_MS"])
        link = RedisLink(client, retry_interval=app.config.get("REDIS_RETRY_INTERVAL", 2.0))
        # Close the sockets when the app goes away (tests build many apps), before the
        # garbage collector finalises them in arbitrary order and warns about each one.
        weakref.finalize(app, link.close)
    else:
        log.warning(
            "REDIS_URL is not set: rate limits and the response cache are kept per process "
            "(each worker counts and caches on its own)"
        )
    app.extensions[EXTENSION] = link
    _register_health_probe(app, link)


def get_link(app: Flask | None = None) -> RedisLink | None:
    """The app's link to Redis, or None without ``REDIS_URL`` (embedded mode)."""
    return (app or current_app).extensions.get(EXTENSION)


def get_client(app: Flask | None = None) -> redis.Redis | None:
    """The app's shared client, or None without ``REDIS_URL``."""
    link = get_link(app)
    return None if link is None else link.client


def eviction_policy_warning(policy: str) -> str | None:
    if policy == SAFE_EVICTION:
        return None
    dropped = "keys without a TTL" if policy.startswith("allkeys-") else "keys with a TTL"
    return (
        f"Redis maxmemory-policy is {policy}: under memory pressure it may evict {dropped} "
        "(revocation markers, rate-limit windows, the cache generation); run noeviction "
        "(the response cache bounds itself, see docs/caching.md)"
    )


def _register_health_probe(app: Flask, link: RedisLink | None) -> None:
    """``/health/ready`` reports Redis: up, down (503) or not configured (embedded mode)."""
    warned: list[str] = []

    def check_policy(client: redis.Redis) -> None:
        if warned:
            return
        reply: Any = client.config_get("maxmemory-policy")
        policy = reply.get("maxmemory-policy") or reply.get(b"maxmemory-policy") or b""
        message = eviction_policy_warning(policy.decode() if isinstance(policy, bytes) else policy)
        warned.append(message or "")
        if message:
            log.warning(message)

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
        latency = round((time.perf_counter() - started) * 1000, 2)
        try:
            check_policy(link.client)
        except redis.ResponseError:  # CONFIG disabled (managed Redis): nothing to check
            warned.append("")
        except UNAVAILABLE:
            pass  # checked again by the next probe
        return {"status": "up", "latency_ms": latency}

    app.extensions.setdefault("bookstore_health", {})["redis"] = probe
