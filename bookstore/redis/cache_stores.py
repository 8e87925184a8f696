"""Where cached catalog responses live: Redis (shared) or this process (embedded mode).

Both stores answer ``get(url) -> (generation, entry or None)``, ``put(url, generation,
entry)`` and ``bump()``; an entry only counts when it was stored under the generation
that is current now. Neither ever raises: a Redis failure is a miss and is reported to
the :class:`~bookstore.redis.client.RedisLink` breaker.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import mmap
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

from bookstore.redis.client import UNAVAILABLE, RedisLink

GENERATION_KEY = "cache:generation"


@functools.lru_cache(maxsize=1024)  # a miss computes it twice: at lookup and at store
def entry_key(url: str) -> str:
    return "cache:entry:" + hashlib.blake2b(url.encode(), digest_size=16).hexdigest()


class RedisStore:
    """Entries are ``<generation>\\n<entry>`` under a key per URL, with a TTL.

    One key per URL (not per generation and URL) means a write leaves no orphans behind:
    the next miss overwrites the stale entry. The generation key has no TTL, so a
    ``volatile-*`` eviction policy never drops it. Lookups are piggybacked on the rate
    limiter's round trip and stores deferred to the next one (see ``RedisLink``).
    """

    def __init__(self, link: RedisLink, ttl: int) -> None:
        self.link = link
        self.ttl = ttl
        # A write whose bump failed (Redis down) is replayed as soon as Redis answers.
        self.bump_pending = False
        link.on_recover.append(self._bump_if_pending)

    def reads(self, url: str) -> list[str]:
        """What a lookup reads: fetched with the rate limiter's round trip when possible."""
        return [GENERATION_KEY, entry_key(url)]

    def get(self, url: str) -> tuple[bytes | None, bytes | None]:
        reads = self.reads(url)
        values = None if self.bump_pending else self.link.piggybacked(reads)
        if values is None:
            values = self._fetch(reads)
            if values is None:
                return None, None
        generation, raw = values
        generation = generation or b"0"
        if raw is not None and raw.startswith(generation + b"\n"):
            return generation, raw[len(generation) + 1 :]
        return generation, None

    def _fetch(self, reads: list[str]) -> list[bytes | None] | None:
        # Without the limiter's round trip (limiting off, or a bump to replay first).
        if not self.link.should_try():
            return None
        try:
            pipe = self.link.batch()
            skip = self.link.drain_deferred(pipe)
            if self.bump_pending:
                pipe.incr(GENERATION_KEY)
            pipe.mget(reads)
            # A failed deferred write only loses an entry; a failed bump or lookup is a miss.
            replies = pipe.execute()[skip:]
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            values = replies[-1]
            self.bump_pending = False
        except UNAVAILABLE as exc:
            self.link.failed(exc, "cache lookup")
            return None
        self.link.succeeded()
        return values

    def put(self, url: str, generation: bytes, entry: bytes) -> None:
        # Stored by this process's next round trip: a miss costs no trip of its own.
        self.link.defer_set(entry_key(url), generation + b"\n" + entry, self.ttl)

    def bump(self) -> None:
        self.bump_pending = True
        if self.link.should_try():
            self._bump_if_pending()

    def _bump_if_pending(self) -> None:
        if not self.bump_pending:
            return
        try:
            self.link.client.incr(GENERATION_KEY)
        except UNAVAILABLE as exc:
            self.link.failed(exc, "cache invalidation")
        else:
            self.bump_pending = False
            self.link.succeeded()


class FileCounter:
    """A counter in an 8-byte memory-mapped file, shared by every process of one machine.

    Embedded mode has no Redis, yet gunicorn runs several workers: a write in one of them
    must still make the others' cached copies stale. Reading is a memory load; the
    increment holds an exclusive file lock so that no two writes produce the same value.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < 8:
                os.ftruncate(fd, 8)
            self._map = mmap.mmap(fd, 8)
        finally:
            os.close(fd)

    @property
    def value(self) -> int:
        return int.from_bytes(self._map[:8], "little")

    def increment(self) -> None:
        with open(self.path, "rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            self._map[:8] = (self.value + 1).to_bytes(8, "little")


class LocalStore:
    """A bounded LRU with a TTL in this process; the generation is a :class:`FileCounter`."""

    def __init__(self, max_entries: int, ttl: int, generation_file: Path) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self.counter = FileCounter(generation_file)
        self._entries: OrderedDict[str, tuple[int, float, bytes]] = OrderedDict()
        self._lock = threading.Lock()  # gthread workers serve requests concurrently

    def get(self, url: str) -> tuple[int, bytes | None]:
        generation = self.counter.value
        with self._lock:
            item = self._entries.get(url)
            if item is None:
                return generation, None
            tagged, expires_at, entry = item
            if tagged != generation or expires_at < time.monotonic():
                del self._entries[url]
                return generation, None
            self._entries.move_to_end(url)
            return generation, entry

    def put(self, url: str, generation: int, entry: bytes) -> None:
        if generation != self.counter.value:
            return  # a write committed while this response was being built
        with self._lock:
            self._entries[url] = (generation, time.monotonic() + self.ttl, entry)
            self._entries.move_to_end(url)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def bump(self) -> None:
        self.counter.increment()
        with self._lock:
            self._entries.clear()
