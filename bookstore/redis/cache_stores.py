"""Where cached catalog responses live: Redis (shared) or this process (embedded mode).

Both stores answer ``get(url, book_id) -> (tag, entry or None)``, ``put(url, tag, entry,
ttl, book_id)``, ``bump()`` and ``bump_books(ids)``. The tag is the catalog generation,
and for a book's own resource (``book_id`` given) also that book's generation: an entry
only counts when it was stored under the tag that is current now, and is only stored
when its tag is still current. Neither ever raises: a Redis failure is a miss and is
reported to the :class:`~bookstore.redis.client.RedisLink` breaker. Both are bounded: a
TTL per entry and at most ``max_entries`` entries.
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
from collections.abc import Iterable
from pathlib import Path

import redis

from bookstore.redis.client import UNAVAILABLE, RedisLink

GENERATION_KEY = "cache:generation"
INDEX_KEY = "cache:index"
SEQUENCE_KEY = "cache:gen:seq"
BOOK_SLOTS = 4096  # per-book counters of embedded mode; two ids sharing one: a spare miss


def book_key(book_id: int) -> str:
    return f"cache:gen:books:{book_id}"


# Stores one entry, if its tag is still current, and keeps the cache bounded: the index
# is a sorted set of entry keys scored by when they expire; expired members are dropped,
# and past ``max`` the entries closest to expiry are deleted with their members.
# KEYS: entry, index, generation[, book generation]. ARGV: tag, value, ttl, now, max
# entries, index ttl. The dropped entries are not in KEYS: fine on one Redis server, not
# on Redis Cluster (which the app does not use).
STORE = """
local tag = redis.call('GET', KEYS[3]) or '0'
if KEYS[4] then
    tag = tag .. ':' .. (redis.call('GET', KEYS[4]) or '0')
end
if tag ~= ARGV[1] then
    return -1
end
local ttl = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
redis.call('SET', KEYS[1], tag .. '\\n' .. ARGV[2], 'EX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if over > 0 then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, over - 1)
    redis.call('DEL', unpack(oldest))
    redis.call('ZREM', KEYS[2], unpack(oldest))
end
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[6]))
return over
"""

# Gives these books a generation never used before: a fresh value of one sequence, so a
# key that expired and comes back can never match an old tag. KEYS: sequence, book
# generations. ARGV: their ttl (longer than any entry's, so an entry tagged with a
# missing key is gone before that key can go missing again).
BUMP_BOOKS = """
local value = redis.call('INCR', KEYS[1])
for i = 2, #KEYS do
    redis.call('SET', KEYS[i], value, 'EX', tonumber(ARGV[1]))
end
return value
"""


@functools.lru_cache(maxsize=1024)  # a miss computes it twice: at lookup and at store
def entry_key(url: str) -> str:
    return "cache:entry:" + hashlib.blake2b(url.encode(), digest_size=16).hexdigest()


class RedisStore:
    """Entries are ``<tag>\\n<entry>`` under a key per URL, with a TTL.

    One key per URL (not per tag and URL) means a write leaves no orphans behind: the
    next miss overwrites the stale entry. A lookup is one ``MGET`` of the generation(s)
    and the entry, a store one script call (:data:`STORE`), both within the request that
    needs them.
    """

    def __init__(self, link: RedisLink, ttl: int, max_entries: int) -> None:
        self.link = link
        self.ttl = ttl
        self.max_entries = max_entries
        self.script = link.client.register_script(STORE)
        self.bump_script = link.client.register_script(BUMP_BOOKS)
        # A write whose bump failed (Redis down) is replayed as soon as Redis answers.
        self.bump_pending = False
        link.on_recover.append(self._bump_if_pending)

    def _generation_keys(self, book_id: int | None) -> list[str]:
        return [GENERATION_KEY] if book_id is None else [GENERATION_KEY, book_key(book_id)]

    def lookup_keys(self, url: str, book_id: int | None = None) -> list[str] | None:
        """The keys :meth:`get` reads, for another call to fetch; None while a bump is owed."""
        if self.bump_pending:
            return None  # the lookup must replay the bump first, in its own call
        return [*self._generation_keys(book_id), entry_key(url)]

    def get(
        self, url: str, book_id: int | None = None, fetched: list[bytes | None] | None = None
    ) -> tuple[bytes | None, bytes | None]:
        """``fetched``: the values of :meth:`lookup_keys`, read already in this request."""
        values = fetched
        if values is None:
            keys = [*self._generation_keys(book_id), entry_key(url)]
            values = self.link.run("cache lookup", functools.partial(self._fetch, keys))
        if values is None:
            return None, None
        *generations, raw = values
        tag = b":".join(generation or b"0" for generation in generations)
        if raw is not None and raw.startswith(tag + b"\n"):
            return tag, raw[len(tag) + 1 :]
        return tag, None

    def _fetch(self, keys: list[str], client: redis.Redis) -> list[bytes | None]:
        if not self.bump_pending:
            return client.mget(keys)  # type: ignore[return-value]
        pipe = client.pipeline(transaction=False)
        pipe.incr(GENERATION_KEY)  # a bump that could not reach Redis, replayed first
        pipe.mget(keys)
        values = pipe.execute()[-1]
        self.bump_pending = False
        return values  # type: ignore[no-any-return]

    def put(
        self, url: str, tag: bytes, entry: bytes, ttl: int | None = None, book_id: int | None = None
    ) -> None:
        keys = [entry_key(url), INDEX_KEY, *self._generation_keys(book_id)]
        ttl = self.ttl if ttl is None else min(ttl, self.ttl)
        args = [tag, entry, ttl, repr(time.time()), self.max_entries, self.ttl]
        self.link.run("cache store", lambda client: self.script(keys, args, client))

    def bump(self) -> None:
        self.bump_pending = True
        if self.link.should_try():
            self._bump_if_pending()

    def bump_books(self, ids: Iterable[int]) -> None:
        keys = [SEQUENCE_KEY, *(book_key(book_id) for book_id in sorted(set(ids)))]
        if len(keys) == 1:
            return
        args = [2 * self.ttl + 60]  # outlives every entry stored before the bump
        done = self.link.run(
            "cache invalidation", lambda client: self.bump_script(keys, args, client)
        )
        if done is None:
            self.bump()  # Redis away: the catalog-wide bump, replayed later, covers these too

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
    """Counters in a memory-mapped file (8 bytes each), shared by every process of a machine.

    Embedded mode has no Redis, yet gunicorn runs several workers: a write in one of them
    must still make the others' cached copies stale. Reading is a memory load; the
    increment holds an exclusive file lock so that no two writes produce the same value.
    """

    def __init__(self, path: Path, slots: int = 1) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.slots = slots
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < 8 * slots:
                os.ftruncate(fd, 8 * slots)
            self._map = mmap.mmap(fd, 8 * slots)
        finally:
            os.close(fd)

    @property
    def value(self) -> int:
        return self.get(0)

    def get(self, slot: int) -> int:
        at = 8 * (slot % self.slots)
        return int.from_bytes(self._map[at : at + 8], "little")

    def increment(self, slots: Iterable[int] = (0,)) -> None:
        with open(self.path, "rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            for slot in {slot % self.slots for slot in slots}:
                at = 8 * slot
                self._map[at : at + 8] = (self.get(slot) + 1).to_bytes(8, "little")


Tag = int | tuple[int, int]  # the catalog generation[, the book's]


class LocalStore:
    """A bounded LRU with a TTL in this process; the generations are :class:`FileCounter`s."""

    def __init__(self, max_entries: int, ttl: int, generation_file: Path) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self.counter = FileCounter(generation_file)
        self.books = FileCounter(generation_file.with_name("cache-book-generations"), BOOK_SLOTS)
        self._entries: OrderedDict[str, tuple[Tag, float, bytes]] = OrderedDict()
        self._lock = threading.Lock()  # gthread workers serve requests concurrently

    def tag(self, book_id: int | None) -> Tag:
        generation = self.counter.value
        return generation if book_id is None else (generation, self.books.get(book_id))

    def get(self, url: str, book_id: int | None = None) -> tuple[Tag, bytes | None]:
        tag = self.tag(book_id)
        with self._lock:
            item = self._entries.get(url)
            if item is None:
                return tag, None
            tagged, expires_at, entry = item
            if tagged != tag or expires_at < time.monotonic():
                del self._entries[url]
                return tag, None
            self._entries.move_to_end(url)
            return tag, entry

    def put(
        self,
        url: str,
        tag: Tag,
        entry: bytes,
        ttl: int | None = None,
        book_id: int | None = None,
    ) -> None:
        if tag != self.tag(book_id):
            return  # a write committed while this response was being built
        ttl = self.ttl if ttl is None else min(ttl, self.ttl)
        with self._lock:
            self._entries[url] = (tag, time.monotonic() + ttl, entry)
            self._entries.move_to_end(url)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def expires_in(self, url: str) -> float | None:
        """Seconds this URL's entry has left (what Redis ``TTL`` tells of a shared one)."""
        with self._lock:
            item = self._entries.get(url)
        return None if item is None else item[1] - time.monotonic()

    def bump(self) -> None:
        self.counter.increment()
        with self._lock:
            self._entries.clear()

    def bump_books(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if ids:
            self.books.increment(ids)
