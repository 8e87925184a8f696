"""Revocation markers in Redis, read by ``auth.checks`` in one round trip per request.

The database is the source of truth (``revoked_tokens``, ``refresh_families.revoked_at``,
``users.token_version``); these keys mirror it so that the hot path never queries the
database while Redis is up. Each marker only has to outlive the access tokens it
revokes, so it expires with them:

- ``revoked:<jti>``          one logged-out access token, until its ``exp``
- ``session:<sid>:revoked``  every access token of a revoked login session
- ``user:<id>:ver``          the user's current token version; tokens with an older
                             ``ver`` (issued before a password, role or active change) fail

A missing marker only means "not revoked" while ``revocation:epoch`` (no TTL) says the
markers are complete. The epoch is read in the same MGET; it is written by :func:`seed`
in one MULTI with every marker rebuilt from the database, so a Redis that lost its data
(restart without persistence, FLUSHDB, failover to an empty replica) has lost the epoch
too, and the checks ask the database until a request has re-seeded it. A seed aborts
(WATCH) if the data is lost again while it runs. A server that may evict keys
(``maxmemory`` with a policy other than ``noeviction``) could drop a marker but keep the
epoch: the seed then writes an epoch that sends the checks to the database.

Markers are written after the database commit. If Redis fails at that moment the process
forgets the epoch at its next contact with Redis, which makes every process re-seed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from flask import current_app

from bookstore.auth.tokens import now_ts
from bookstore.redis.client import SAFE_EVICTION, UNAVAILABLE, get_client

log = logging.getLogger("bookstore.auth")

# Clock skew between instances: markers live a little longer than the tokens they revoke.
MARKER_MARGIN = 60
EPOCH_KEY = "revocation:epoch"
SEED_KEY = "revocation:seeding"
COMPLETE = b"1"  # the markers mirror the database: a missing one means not revoked
DATABASE = b"0"  # keys may be evicted: ask the database (until this expires and is re-checked)
DATABASE_TTL = 60
SEED_LOCK_SECONDS = 30
# Set when a marker could not be written: the epoch must go at the next contact.
STALE = "bookstore_revocation_stale"

# Only ever raise the stored version, so two concurrent changes cannot lower it.
_RAISE_VERSION = """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) >= current then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return 1
"""


def jti_key(jti: str) -> str:
    return f"revoked:{jti}"


def session_key(session_id: str) -> str:
    return f"session:{session_id}:revoked"


def version_key(user_id: int) -> str:
    return f"user:{user_id}:ver"


@dataclass
class Markers:
    """Revocations to mirror into Redis once the transaction that made them commits."""

    jtis: list[tuple[str, int]] = field(default_factory=list)  # (jti, exp)
    sessions: list[str] = field(default_factory=list)
    versions: list[tuple[int, int]] = field(default_factory=list)  # (user id, version)

    def __bool__(self) -> bool:
        return bool(self.jtis or self.sessions or self.versions)

    def __len__(self) -> int:
        return len(self.jtis) + len(self.sessions) + len(self.versions)


def _stage(pipe: redis.client.Pipeline, markers: Markers) -> None:
    ttl = current_app.config["JWT_ACCESS_TTL"] + MARKER_MARGIN
    now = now_ts()
    for jti, exp in markers.jtis:
        pipe.set(jti_key(jti), b"1", ex=max(1, exp - now + MARKER_MARGIN))
    for session_id in markers.sessions:
        pipe.set(session_key(session_id), b"1", ex=ttl)
    for user_id, version in markers.versions:
        pipe.eval(_RAISE_VERSION, 1, version_key(user_id), version, ttl)


def publish(markers: Markers) -> None:
    """Write the markers in one pipeline; never fails the request (see module docstring)."""
    client = get_client()
    if client is None or not markers:
        return
    pipe = client.pipeline(transaction=False)
    _stage(pipe, markers)
    try:
        pipe.execute()
    except UNAVAILABLE as exc:
        current_app.extensions[STALE] = True
        log.warning(
            "redis unavailable: revocation markers not mirrored to Redis",
            extra={"error": exc.__class__.__name__},
        )


def forget_epoch_if_stale(client: redis.Redis) -> None:
    """After a failed publish: drop the epoch (and abort a seed in flight) so all re-seed."""
    if current_app.extensions.pop(STALE, False):
        pipe = client.pipeline(transaction=True)
        pipe.delete(EPOCH_KEY, SEED_KEY)
        try:
            pipe.execute()
        except UNAVAILABLE:
            current_app.extensions[STALE] = True
            raise


def evictions_possible(client: redis.Redis) -> bool:
    """Whether the server may evict keys; a server that hides CONFIG is trusted (logged)."""
    try:
        raw = client.config_get("maxmemory*")
    except redis.ResponseError:
        log.warning("redis CONFIG is unavailable: assuming maxmemory-policy noeviction")
        return False
    config = {_text(name): _text(value) for name, value in raw.items()}
    return int(config.get("maxmemory") or 0) > 0 and config.get("maxmemory-policy") != SAFE_EVICTION


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def seed(client: redis.Redis, load: Callable[[], Markers]) -> bool:
    """Rebuild every marker from ``load()`` (the database), then the epoch, in one MULTI.

    One process seeds at a time (a lock key); the others keep asking the database. The
    lock key is WATCHed from before the database read, so data lost again meanwhile
    (FLUSHDB, restart, eviction) aborts the seed instead of writing an epoch over it.
    """
    if not client.set(SEED_KEY, b"1", nx=True, ex=SEED_LOCK_SECONDS):
        return False
    try:
        with client.pipeline(transaction=True) as pipe:
            pipe.watch(SEED_KEY)
            markers = load()
            evicting = evictions_possible(client)
            pipe.multi()
            _stage(pipe, markers)
            if evicting:
                pipe.set(EPOCH_KEY, DATABASE, ex=DATABASE_TTL)
            else:
                pipe.set(EPOCH_KEY, COMPLETE)
            pipe.delete(SEED_KEY)
            pipe.execute()
    except redis.WatchError:
        return False
    if evicting:
        log.warning(
            "redis may evict keys (set maxmemory-policy noeviction): "
            "token revocations are checked against the database"
        )
    log.info("revocation markers re-seeded from the database", extra={"markers": len(markers)})
    return True
