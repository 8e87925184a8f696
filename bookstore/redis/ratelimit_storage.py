"""A moving-window rate limit storage for Flask-Limiter: one Redis round trip per limit.

The stock ``limits`` Redis storage answers a hit with one script call, then Flask-Limiter
asks again for the window (remaining, reset) to write the headers: two round trips per
limit. Here the hit's script also returns the window, which is kept for the rest of the
request, so the header lookup costs nothing. Reads another part of the request will need
(the response cache's lookup) ride in the same round trip. While Redis is unreachable
each process counts in memory instead (see :class:`bookstore.redis.client.RedisLink`).
"""

from __future__ import annotations

import time
from typing import Any

from flask import has_request_context
from limits.storage import MemoryStorage, RedisStorage
from redis.exceptions import NoScriptError

from bookstore.redis.client import UNAVAILABLE, RedisLink
from bookstore.web.requests import current_request

# The window is a list of hit timestamps, newest first (the layout of the ``limits`` moving
# window, so its own scripts read it too). Hits that left the window are popped from the
# tail, so the list holds exactly the hits inside it. Under steady traffic a hit pops one
# or two; after a client's quiet spell, a whole burst may have left the window at once:
# past eight pops the script finds where the expired hits start (a binary search, the
# list being in time order) and trims them in one LTRIM, so one request never runs a
# loop as long as the limit while Redis, single-threaded, makes everyone else wait.
# ARGV: now, limit, window length in seconds, cost.
# Returns {1 if acquired else 0, oldest timestamp inside the window, hits inside it}.
ACQUIRE_AND_COUNT = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local expiry = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local key = KEYS[1]
local floor = now - expiry
local oldest = redis.call('LINDEX', key, -1)
local popped = 0
while oldest and tonumber(oldest) < floor do
    if popped == 8 then
        local lo, hi = 0, redis.call('LLEN', key) - 1  -- the entry at hi has expired
        while lo < hi do
            local mid = math.floor((lo + hi) / 2)
            if tonumber(redis.call('LINDEX', key, mid)) < floor then hi = mid else lo = mid + 1 end
        end
        if lo == 0 then redis.call('DEL', key) else redis.call('LTRIM', key, 0, lo - 1) end
    else
        redis.call('RPOP', key)
        popped = popped + 1
    end
    oldest = redis.call('LINDEX', key, -1)
end
local count = redis.call('LLEN', key)
local acquired = 0
if count + cost <= limit then
    for _ = 1, cost do
        redis.call('LPUSH', key, ARGV[1])
    end
    redis.call('EXPIRE', key, expiry)
    count = count + cost
    acquired = 1
end
return {acquired, oldest or ARGV[1], count}
"""
_WINDOWS = "bookstore.redis.ratelimit.windows"


def _remember(key: str, window: tuple[float, int]) -> None:
    # Per request, in the WSGI environ: a thread or app context may serve many requests.
    if has_request_context():
        current_request().environ.setdefault(_WINDOWS, {})[key] = window


def _remembered(key: str) -> tuple[float, int] | None:
    if has_request_context():
        return current_request().environ.get(_WINDOWS, {}).get(key)
    return None


class SharedMovingWindow(RedisStorage):
    """``bookstore+redis://``: the moving window in Redis, shared by every process."""

    STORAGE_SCHEME = ["bookstore+redis"]

    def __init__(self, uri: str, *, link: RedisLink, **options: Any) -> None:
        self.link = link
        self.fallback = MemoryStorage()
        super().__init__(
            "redis://",
            connection_pool=link.client.connection_pool,
            key_prefix="ratelimit",
            **options,
        )

    def initialize_storage(self, uri: str) -> None:
        super().initialize_storage(uri)
        self.lua_acquire_and_count = self.get_connection().register_script(ACQUIRE_AND_COUNT)

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        acquired, window = self.acquire_with_window(key, limit, expiry, amount)
        _remember(key, window)
        return acquired

    def acquire_with_window(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> tuple[bool, tuple[float, int]]:
        """The hit and the window after it, ``(oldest hit, hits)``, in one round trip."""
        if self.link.should_try():
            keys, args = [self.prefixed_key(key)], [repr(time.time()), limit, expiry, amount]
            try:
                reads = self.link.reads_to_piggyback()
                acquired, oldest, count = self._pipelined(keys, args, reads)
            except UNAVAILABLE as exc:
                self.link.failed(exc, "rate limiting")
            else:
                self.link.succeeded()
                return bool(acquired), (float(oldest), int(count))
        acquired = self.fallback.acquire_entry(key, limit, expiry, amount)
        return acquired, self.fallback.get_moving_window(key, limit, expiry)

    def _pipelined(self, keys: list[str], args: list[Any], reads: list[str] | None) -> Any:
        """Deferred writes, the hit and an ``MGET`` of ``reads``: one round trip for all."""
        try:
            window, values = self._pipeline(keys, args, reads)
        except NoScriptError:  # a restarted Redis has forgotten the script
            script = self.lua_acquire_and_count
            script.sha = self.get_connection().script_load(script.script)
            window, values = self._pipeline(keys, args, reads)
        if reads:
            self.link.keep_piggybacked(reads, values)
        return window

    def _pipeline(self, keys: list[str], args: list[Any], reads: list[str] | None) -> list[Any]:
        pipe = self.link.batch()
        skip = self.link.drain_deferred(pipe)
        pipe.evalsha(self.lua_acquire_and_count.sha, len(keys), *keys, *args)
        if reads:
            pipe.mget(reads)
        # A failed deferred write (out of memory) only loses a cache entry: not raised.
        replies = pipe.execute()[skip:]
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies if reads else [replies[0], None]

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        window = _remembered(key)
        if window is not None:
            return window
        if self.link.should_try():
            try:
                window = super().get_moving_window(key, limit, expiry)
            except UNAVAILABLE as exc:
                self.link.failed(exc, "rate limiting")
            else:
                self.link.succeeded()
                return window
        return self.fallback.get_moving_window(key, limit, expiry)
