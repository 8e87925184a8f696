"""Login sessions: refresh-token families, rotation with reuse detection, and logout.

A session is one refresh-token family (a ``refresh_families`` row; its id is the ``sid``
claim of every token issued in it). Each refresh spends the presented token and issues
the next one in the family; presenting a spent token again means two parties hold it, so
the whole family is revoked. A session ends ``JWT_SESSION_MAX_AGE`` after its login
however often it is refreshed.

Locks are taken in one order everywhere: the user row, then the family row, then token
rows. Refresh and revocation both lock the family row, so a revocation either waits for
a refresh in flight (and then ends the token it issued) or the refresh sees it.
Functions here stage changes in the session; the caller (or ``rotate``/``logout``) commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any, NoReturn

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bookstore.auth.tokens import (
    Identity,
    create_access_token,
    create_refresh_token,
    decode_token,
    new_session_id,
    now_ts,
    settings,
)
from bookstore.exceptions import Unauthorized
from bookstore.extensions import db
from bookstore.models import RefreshFamily, RefreshToken, RevokedToken, User
from bookstore.models.base import utcnow
from bookstore.redis.revocation import Markers, publish
from bookstore.services.deadlocks import retry_on_deadlock

log = logging.getLogger("bookstore.auth")
families = RefreshFamily.__table__
refresh_tokens = RefreshToken.__table__
revoked_tokens = RevokedToken.__table__
users = User.__table__
# Expired rows removed per login or logout; rows another transaction holds are skipped.
SWEEP_BATCH = 500


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _at(timestamp: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def session_end(created_at: dt.datetime) -> dt.datetime:
    """When a session started at ``created_at`` ends, whatever its refreshes."""
    return created_at + dt.timedelta(seconds=settings().session_max_age)


def issue(
    user_id: int, role: str, version: int, session_id: str, ends_at: dt.datetime
) -> dict[str, Any]:
    """Stage a refresh token row and return the token pair; neither outlives ``ends_at``."""
    end = int(ends_at.timestamp())
    refresh, claims = create_refresh_token(user_id, role, session_id, ends_at=end)
    db.session.execute(
        refresh_tokens.insert().values(
            token_hash=token_hash(refresh),
            family_id=session_id,
            user_id=user_id,
            issued_at=_at(claims["iat"]),
            expires_at=_at(claims["exp"]),
        )
    )
    access = create_access_token(user_id, role, version=version, session_id=session_id, ends_at=end)
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": max(0, min(settings().access_ttl, end - now_ts())),
    }


def start(user_id: int, role: str, version: int) -> dict[str, Any]:
    """A new session (login); the caller holds the user row (FOR SHARE at least)."""
    now = utcnow()
    _sweep(now)
    session_id = new_session_id()
    db.session.execute(families.insert().values(id=session_id, user_id=user_id, created_at=now))
    return issue(user_id, role, version, session_id, session_end(now))


def _sweep(now: dt.datetime) -> None:
    """Delete expired tokens and ended sessions, skipping rows others hold (no waits)."""
    _delete_unlocked(refresh_tokens.c.id, refresh_tokens.c.expires_at < now)
    # An ended session's access tokens have expired too once one access TTL has passed.
    cutoff = now - dt.timedelta(seconds=settings().session_max_age + settings().access_ttl)
    _delete_unlocked(families.c.id, families.c.created_at < cutoff)


def _delete_unlocked(key: Any, condition: Any) -> None:
    """Delete a batch of rows matching ``condition`` that no other transaction holds."""
    batch = select(key).where(condition).limit(SWEEP_BATCH).with_for_update(skip_locked=True)
    db.session.execute(delete(key.table).where(key.in_(batch)))


def _invalid(message: str = "The refresh token is invalid") -> Unauthorized:
    db.session.rollback()
    return Unauthorized(message, code="INVALID_TOKEN")


def rotate(refresh_token: str) -> dict[str, Any]:
    """Spend ``refresh_token`` and return the next pair; commits."""
    claims = decode_token(refresh_token, "refresh")
    digest = token_hash(refresh_token)
    return retry_on_deadlock(lambda: _rotate(claims, digest))


def _rotate(claims: dict[str, Any], digest: str) -> dict[str, Any]:
    user_id, session_id = int(claims["sub"]), claims["sid"]
    # The user row first (shared: refreshes of one user do not queue behind each other),
    # so a password change or deactivation, which locks it for update, is serialised.
    user = db.session.execute(
        select(users.c.role, users.c.active, users.c.token_version)
        .where(users.c.id == user_id)
        .with_for_update(read=True)
    ).first()
    if user is None or not user.active:
        raise _invalid()
    family = db.session.execute(
        select(families.c.created_at, families.c.revoked_at)
        .where(families.c.id == session_id, families.c.user_id == user_id)
        .with_for_update()
    ).first()
    if family is None or family.revoked_at is not None:
        raise _invalid()
    now = utcnow()
    ends_at = session_end(family.created_at)
    if ends_at <= now:
        raise _invalid("The session has reached its maximum age; log in again")
    # Unspent and unexpired: of two uses of one token only one finds it so.
    spent = db.session.execute(
        update(refresh_tokens)
        .where(
            refresh_tokens.c.token_hash == digest,
            refresh_tokens.c.family_id == session_id,
            refresh_tokens.c.used_at.is_(None),
            refresh_tokens.c.expires_at > now,
        )
        .values(used_at=now)
        .returning(refresh_tokens.c.id)
    ).first()
    if spent is None:
        _refuse(digest, session_id)
    pair = issue(user_id, user.role, user.token_version, session_id, ends_at)
    db.session.commit()
    return pair


def _refuse(digest: str, session_id: str) -> NoReturn:
    """The token was not spendable in its live, locked family: unknown, expired or reused."""
    used_at = db.session.execute(
        select(refresh_tokens.c.used_at).where(
            refresh_tokens.c.token_hash == digest, refresh_tokens.c.family_id == session_id
        )
    ).scalar()
    if used_at is None:
        raise _invalid()
    markers = revoke_families([session_id])
    db.session.commit()
    publish(markers)
    log.warning("refresh token reused: session revoked", extra={"session_id": session_id})
    raise Unauthorized(
        "The refresh token was already used; the session has been revoked", code="INVALID_TOKEN"
    )


def revoke_families(family_ids: list[str], user_id: int | None = None) -> Markers:
    """Stage the revocation of these families; their rows are locked in id order."""
    ids = sorted(set(family_ids))
    locked = select(families.c.id).where(families.c.id.in_(ids), families.c.revoked_at.is_(None))
    if user_id is not None:
        locked = locked.where(families.c.user_id == user_id)
    found = db.session.execute(locked.order_by(families.c.id).with_for_update()).scalars().all()
    if found:
        db.session.execute(
            update(families).where(families.c.id.in_(found)).values(revoked_at=utcnow())
        )
    return Markers(sessions=ids)


def revoke_user_sessions(user_id: int, keep: str | None = None) -> None:
    """Revoke every family of the user except ``keep``; the caller holds the user row.

    Their access tokens are cut off by the token-version bump that goes with this.
    """
    stmt = update(families).where(families.c.user_id == user_id, families.c.revoked_at.is_(None))
    if keep:
        stmt = stmt.where(families.c.id != keep)
    db.session.execute(stmt.values(revoked_at=utcnow()))


def logout(identity: Identity | None, refresh_token: str | None) -> None:
    """Revoke the access token's jti and session, and/or the refresh token's family."""
    families_ids: list[str] = []
    user_id = identity.user_id if identity else None
    if refresh_token:
        claims = decode_token(refresh_token, "refresh")
        if user_id is not None and claims["sub"] != str(user_id):
            raise _invalid("The refresh token belongs to another user")
        user_id = int(claims["sub"])
        families_ids.append(claims["sid"])
    if identity is not None:
        families_ids.append(identity.session_id)
    retry_on_deadlock(lambda: _logout(identity, families_ids, user_id))


def _logout(identity: Identity | None, family_ids: list[str], user_id: int | None) -> None:
    markers = revoke_families(family_ids, user_id)
    if identity is not None:
        _revoke_jti(identity.jti, identity.expires_at)
        markers.jtis.append((identity.jti, identity.expires_at))
    db.session.commit()
    publish(markers)


def _revoke_jti(jti: str, expires_at: int) -> None:
    _delete_unlocked(revoked_tokens.c.jti, revoked_tokens.c.expires_at < utcnow())
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    db.session.execute(
        dialect.insert(revoked_tokens)
        .values(jti=jti, expires_at=_at(expires_at))
        .on_conflict_do_nothing()
    )
