"""Revocation markers in Redis, read by ``auth.checks`` in one round trip per request.

The database is the source of truth (``revoked_tokens``, ``refresh_tokens.revoked_at``,
``users.token_version``); these keys mirror it so that the hot path never queries the
database while Redis is up. Each key only has to outlive the access tokens it revokes,
so it expires with them:

- ``revoked:<jti>``          one logged-out access token, until its ``exp``
- ``session:<sid>:revoked``  every access token of a revoked login session
- ``user:<id>:ver``          the user's current token version; tokens with an older
                             ``ver`` (issued before a password, role or active change) fail

Markers are written after the database commit. If Redis is unreachable at that moment the
write is skipped with a warning: the checks read the database while Redis stays down, and
refresh always reads it, but once Redis is back the affected access tokens pass the
Redis check until they expire (15 minutes at most).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import redis
from flask import current_app

from bookstore.auth.tokens import now_ts
from bookstore.redis.client import get_client

log = logging.getLogger("bookstore.auth")

# Clock skew between instances: markers live a little longer than the tokens they revoke.
MARKER_MARGIN = 60

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


def publish(markers: Markers) -> None:
    """Write the markers in one pipeline; never fails the request (see module docstring)."""
    client = get_client()
    if client is None or not markers:
        return
    ttl = current_app.config["JWT_ACCESS_TTL"] + MARKER_MARGIN
    now = now_ts()
    pipe = client.pipeline(transaction=False)
    for jti, exp in markers.jtis:
        pipe.set(jti_key(jti), b"1", ex=max(1, exp - now + MARKER_MARGIN))
    for session_id in markers.sessions:
        pipe.set(session_key(session_id), b"1", ex=ttl)
    for user_id, version in markers.versions:
        pipe.eval(_RAISE_VERSION, 1, version_key(user_id), version, ttl)
    try:
        pipe.execute()
    except redis.RedisError as exc:
        log.warning(
            "redis unavailable: revocation markers not mirrored to Redis",
            extra={"error": exc.__class__.__name__},
        )
