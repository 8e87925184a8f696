"""A breaker around the shared Redis client, and the readiness probe.

Redis is an accelerator here, never a single point of failure: the rate limiter and the
response cache ask :func:`get_link` whether Redis is worth trying, report failures and
successes to it, and degrade to per-process behaviour while it is down. The client is
the app's shared one (:data:`bookstore.extensions.redis_client`: short timeouts, one
immediate retry), so an outage costs milliseconds, not seconds, per request.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

import redis
from flask import Flask, has_request_context

from bookstore.extensions import redis_client
from bookstore.web.requests import current_request

try:
    from hiredis import pack_command
except ImportError:  # pragma: no cover - hiredis is pinned in requirements.txt
    pack_command = None

log = logging.getLogger("bookstore.redis")

_PIGGYBACKED = "bookstore.redis.piggybacked"
DEFERRED_MAX = 64
# Any Redis failure (refused, timeout, loading, out of memory) degrades; it never fails a request.
UNAVAILABLE = (redis.RedisError, OSError)
# This process's id, kept current across forks: os.getpid() is a system call each time.
_process = {"pid": os.getpid()}
os.register_at_fork(after_in_child=lambda: _process.update(pid=os.getpid()))


class Batch:
    """Commands sent in one write and answered in one read: a pipeline without redis-py's.

    redis-py's ``Pipeline`` spends about 20 us of CPU per batch on bookkeeping (command
    stack, response callbacks, retries, instrumentation hooks) that this hot path does
    not need, and checking a connection out of the pool and back costs about as much
    again: each thread keeps one connection of the shared pool for its batches (gunicorn
    threads live as long as their worker). The replies are the raw ones (bytes, ints,
    lists), an error reply is returned as its exception, as
    ``execute(raise_on_error=False)`` does, and a dropped connection is retried once, as
    the shared client's ``Retry`` does.
    """

    __slots__ = ("commands", "link")

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self.commands: list[tuple[Any, ...]] = []

    def set(self, key: str, value: bytes, ex: int) -> None:
        self.commands.append(("SET", key, value, "EX", ex))

    def incr(self, key: str) -> None:
        self.commands.append(("INCRBY", key, 1))

    def mget(self, keys: list[str]) -> None:
        self.commands.append(("MGET", *keys))

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> None:
        self.commands.append(("EVALSHA", sha, numkeys, *keys_and_args))

    def execute(self) -> list[Any]:
        connection = self.link.thread_connection()
        try:
            try:
                return self._send(connection)
            except (redis.ConnectionError, redis.TimeoutError):
                connection.disconnect()
                return self._send(connection)  # reconnects first
        except BaseException:
            connection.disconnect()
            raise

    def _send(self, connection: Any) -> list[Any]:
        if pack_command is None:
            packed = connection.pack_commands(self.commands)
        else:  # hiredis encodes each command in C, without redis-py's generators
            packed = [b"".join([pack_command(command) for command in self.commands])]
        connection.send_packed_command(packed)
        replies: list[Any] = []
        for _ in self.commands:
            try:
                replies.append(connection.read_response())
            except redis.ResponseError as error:
                replies.append(error)
        return replies


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
        # Keys this request will read anyway (the cache's lookup): the first round trip of
        # the request (the rate limiter's) fetches them too, so the read costs no trip.
        self.planned_reads: Callable[[], list[str] | None] | None = None
        # Writes that can wait (the cache storing a miss): they ride in this process's next
        # round trip, whichever request makes it. Bounded; lost if that trip fails.
        self.deferred: deque[tuple[str, bytes, int]] = deque(maxlen=DEFERRED_MAX)
        self._local = threading.local()

    def defer_set(self, key: str, value: bytes, ttl: int) -> None:
        if self.up:
            self.deferred.append((key, value, ttl))

    def batch(self) -> Batch:
        return Batch(self)

    def thread_connection(self) -> Any:
        """This thread's own connection of the shared pool, checked out on first use."""
        connection = getattr(self._local, "connection", None)
        if connection is None or connection.pid != _process["pid"]:
            connection = self._local.connection = self.client.connection_pool.get_connection()
        return connection

    def drain_deferred(self, pipe: Batch) -> int:
        """Queue the deferred writes on ``pipe``; returns how many replies to skip."""
        count = 0
        while self.deferred:  # most round trips find it empty: no exception raised then
            try:
                key, value, ttl = self.deferred.popleft()  # thread-safe, unlike a list
            except IndexError:  # another thread took the last one meanwhile
                break
            pipe.set(key, value, ex=ttl)
            count += 1
        return count

    def reads_to_piggyback(self) -> list[str] | None:
        if self.planned_reads is None or not has_request_context():
            return None
        if _PIGGYBACKED in current_request().environ:
            return None  # already fetched by an earlier round trip of this request
        return self.planned_reads()

    def keep_piggybacked(self, keys: list[str], values: list[bytes | None]) -> None:
        current_request().environ[_PIGGYBACKED] = (keys, values)

    def piggybacked(self, keys: list[str]) -> list[bytes | None] | None:
        """The values of ``keys`` fetched earlier in this request, or None."""
        found = current_request().environ.get(_PIGGYBACKED) if has_request_context() else None
        return found[1] if found is not None and found[0] == keys else None

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
