"""Moving windows for the rate limiter: one script call per limit in Redis, else in process.

In Redis a hit is one ``EVALSHA`` of :data:`ACQUIRE_AND_COUNT` (registered with
``register_script``, reloaded by redis-py if a restarted Redis forgot it): it counts the
hit if the window has room and returns the window, so the headers need no second
lookup. Without Redis, or while the breaker in :mod:`bookstore.redis.client` is open,
each process counts in memory with ``limits``' moving window on its ``MemoryStorage``.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from limits import RateLimitItem
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from bookstore.redis.client import RedisLink

# The window is a list of hit timestamps, newest first. Hits that left the window are
# popped from the tail, so the list holds exactly the hits inside it. Under steady
# traffic a hit pops one or two; after a client's quiet spell, a whole burst may have
# left the window at once: past eight pops the script finds where the expired hits
# start (a binary search, the list being in time order) and trims them in one LTRIM,
# so one request never runs a loop as long as the limit while Redis, single-threaded,
# makes everyone else wait.
# KEYS: the window[, keys to read when the hit is counted]. ARGV: now, limit, window
# length in seconds, cost. Returns {1 if acquired else 0, oldest timestamp inside the
# window, hits inside it[, the values of the keys to read]} (see bookstore.redis.readahead).
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
local reply = {acquired, oldest or ARGV[1], count}
if acquired == 1 and #KEYS > 1 then
    local values = redis.call('MGET', unpack(KEYS, 2))
    for i = 1, #values do
        reply[3 + i] = values[i]
    end
end
return reply
"""


class Window(NamedTuple):
    """One limit after a hit: counted or refused, when it next frees a slot, what is left."""

    acquired: bool
    reset_at: float  # epoch seconds
    remaining: int
    reads: list[bytes | None] | None = None  # the values of ``reads`` keys, when fetched


def storage_key(limit: RateLimitItem, scope: str, key: str) -> str:
    # The limit is part of the key: a changed setting starts a window of its own.
    return f"ratelimit:{scope}:{key}:{limit.amount}/{limit.get_expiry()}"


class Windows:
    """Hits counted in Redis (shared by every process) or, without it, in this process."""

    def __init__(self, link: RedisLink | None) -> None:
        self.link = link
        self.memory = MovingWindowRateLimiter(MemoryStorage())
        self.script = None if link is None else link.client.register_script(ACQUIRE_AND_COUNT)

    def hit(
        self, limit: RateLimitItem, scope: str, key: str, reads: list[str] | None = None
    ) -> Window:
        """Count one hit; in Redis, also read ``reads`` in the same call if it is counted."""
        if self.link is not None:
            expiry = limit.get_expiry()
            args = [repr(time.time()), limit.amount, expiry, 1]
            keys = [storage_key(limit, scope, key), *(reads or ())]
            reply = self.link.run(
                "rate limiting", lambda client: self.script(keys=keys, args=args, client=client)
            )
            if reply is not None:
                acquired, oldest, count, *values = reply
                return Window(
                    bool(acquired),
                    float(oldest) + expiry,
                    limit.amount - int(count),
                    values if reads and acquired else None,
                )
        acquired = self.memory.hit(limit, scope, key)
        reset_at, remaining = self.memory.get_window_stats(limit, scope, key)
        return Window(acquired, reset_at, remaining)
