"""Where cached catalog responses live: Redis (shared) or this process (embedded mode).

Both stores answer ``get(url) -> (generation, entry or None)``, ``put(url, generation,
entry)`` and ``bump()``; an entry only counts when it was stored under the generation
that is current now. Neither ever raises: a Redis failure is a miss and is reported to
the :class:`~bookstore.redis.client.RedisLink` breaker. Both are bounded: a TTL per
entry and at most ``max_entries`` entries.
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

import redis

from bookstore.redis.client import UNAVAILABLE, RedisLink

GENERATION_KEY = "cache:generation"
INDEX_KEY = "cache:index"

# Stores one entry and keeps the cache bounded: the index is a sorted set of entry keys
# scored by when they were stored; members older than the TTL have expired and are
# dropped, and past ``max`` the oldest entries are deleted with their members.
# KEYS: entry, index. ARGV: value, ttl, now, max entries. The dropped entries are not in
# KEYS: fine on one Redis server, not on Redis Cluster (which the app does not use).
STORE = """
local ttl = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
redis.call('ZADD', KEYS[2], now, KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if over > 0 then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, over - 1)
    redis.call('DEL', unpack(oldest))
    redis.call('ZREM', KEYS[2], unpack(oldest))
end
redis.call('EXPIRE', KEYS[2], ttl)
return over
"""


@functools.lru_cache(maxsize=1024)  # a miss computes it twice: at lookup and at store
def entry_key(url: str) -> str:
    return "cache:entry:" + hashlib.blake2b(url.encode(), digest_size=16).hexdigest()


class RedisStore:
    """Entries are ``<generation>\\n<entry>`` under a key per URL, with a TTL.

    One key per URL (not per generation and URL) means a write leaves no orphans behind:
    the next miss overwrites the stale entry. A lookup is one ``MGET generation entry``,
    a store one script call (:data:`STORE`), both within the request that needs them.
    """

    def __init__(self, link: RedisLink, ttl: int, max_entries: int) -> None:
        self.link = link
        self.ttl = ttl
        self.max_entries = max_entries
        self.script = link.client.register_script(STORE)
        # A write whose bump failed (Redis down) is replayed as soon as Redis answers.
        self.bump_pending = False
        link.on_recover.append(self._bump_if_pending)

    def get(self, url: str) -> tuple[bytes | None, bytes | None]:
        values = self.link.run("cache lookup", functools.partial(self._fetch, entry_key(url)))
        if values is None:
            return None, None
        generation, raw = values
        generation = generation or b"0"
        if raw is not None and raw.startswith(generation + b"\n"):
            return generation, raw[len(generation) + 1 :]
        return generation, None

    def _fetch(self, key: str, client: redis.Redis) -> list[bytes | None]:
        if not self.bump_pending:
            return client.mget(GENERATION_KEY, key)  # type: ignore[return-value]
        pipe = client.pipeline(transaction=False)
        pipe.incr(GENERATION_KEY)  # a bump that could not reach Redis, replayed first
        pipe.mget(GENERATION_KEY, key)
        values = pipe.execute()[-1]
        self.bump_pending = False
        return values  # type: ignore[no-any-return]

    def put(self, url: str, generation: bytes, entry: bytes) -> None:
        keys = [entry_key(url), INDEX_KEY]
        args = [generation + b"\n" + entry, self.ttl, repr(time.time()), self.max_entries]
        self.link.run("cache store", lambda client: self.script(keys, args, client))

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
