"""Per-request checks on a verified token: revoked tokens and deactivated/demoted users.

Budget: one Redis round trip (an MGET of three markers and the epoch, see
``redis.revocation``) and no SQL while Redis is up and its markers are complete; one
indexed SQL query when Redis is not configured, is down, or has lost its data (no
epoch), in which case this request also re-seeds the markers from the database. A Redis
failure opens the app's breaker (``redis.client``) and the database answers instead,
never a 500; while it is open Redis is skipped, not waited for.
"""

from __future__ import annotations

import datetime as dt
import logging

import redis
from sqlalchemy import exists, select

from bookstore.auth.tokens import Identity, settings
from bookstore.exceptions import Unauthorized
from bookstore.extensions import db
from bookstore.models import RefreshFamily, RevokedToken, User
from bookstore.models.base import utcnow
from bookstore.redis.client import RedisLink, get_link
from bookstore.redis.revocation import (
    COMPLETE,
    EPOCH_KEY,
    Markers,
    forget_epoch_if_stale,
    jti_key,
    seed,
    session_key,
    version_key,
)

log = logging.getLogger("bookstore.auth")
# Seeded revocations reach this far back beyond one access TTL (clock skew, slow commits).
SEED_MARGIN_SECONDS = 600

users = User.__table__
families = RefreshFamily.__table__
revoked_tokens = RevokedToken.__table__


def _revoked() -> Unauthorized:
    return Unauthorized("The token has been revoked", code="INVALID_TOKEN")


def ensure_active(identity: Identity) -> None:
    """Raise 401 when the token was revoked or its user may no longer act with its role."""
    link = get_link()
    if link is not None:
        keys = (
            jti_key(identity.jti),
            session_key(identity.session_id),
            version_key(identity.user_id),
            EPOCH_KEY,
        )
        values = link.run("token checks", lambda client: _read_markers(client, keys))
        if values is not None:
            *markers, epoch = values
            if epoch == COMPLETE:
                _check_markers(identity, markers)
                return
            _check_database(identity)
            if epoch is None:
                _reseed(link)
            return
    _check_database(identity)


def _read_markers(client: redis.Redis, keys: tuple[str, ...]) -> list[bytes | None]:
    forget_epoch_if_stale(client)
    return client.mget(keys)  # type: ignore[no-any-return]


def _check_markers(identity: Identity, values: list[bytes | None]) -> None:
    jti_revoked, session_revoked, version = values
    if jti_revoked is not None or session_revoked is not None:
        raise _revoked()
    if version is not None and identity.version < int(version):
        raise _revoked()


def _check_database(identity: Identity) -> None:
    jti_revoked = exists().where(revoked_tokens.c.jti == identity.jti)
    session_revoked = exists().where(
        families.c.id == identity.session_id, families.c.revoked_at.is_not(None)
    )
    row = db.session.execute(
        select(
            users.c.active,
            users.c.role,
            users.c.token_version,
            jti_revoked.label("jti_revoked"),
            session_revoked.label("session_revoked"),
        ).where(users.c.id == identity.user_id)
    ).first()
    if (
        row is None
        or not row.active
        or row.role != identity.role
        or row.token_version > identity.version
        or row.jti_revoked
        or row.session_revoked
    ):
        raise _revoked()


def _reseed(link: RedisLink) -> None:
    log.warning("redis has no revocation epoch (data lost): re-seeding from the database")
    link.run("revocation re-seed", lambda client: seed(client, markers_from_database))


def markers_from_database() -> Markers:
    """Every revocation that may still have a live access token, as Redis markers."""
    now = utcnow()
    since = now - dt.timedelta(seconds=settings().access_ttl + SEED_MARGIN_SECONDS)
    jtis = db.session.execute(
        select(revoked_tokens.c.jti, revoked_tokens.c.expires_at).where(
            revoked_tokens.c.expires_at > now
        )
    ).all()
    sessions = db.session.execute(select(families.c.id).where(families.c.revoked_at > since))
    versions = db.session.execute(
        select(users.c.id, users.c.token_version).where(
            users.c.token_version > 0, users.c.updated_at > since
        )
    ).all()
    return Markers(
        jtis=[(row.jti, int(row.expires_at.timestamp())) for row in jtis],
        sessions=list(sessions.scalars()),
        versions=[(row.id, row.token_version) for row in versions],
    )
