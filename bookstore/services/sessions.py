"""Login sessions: refresh-token families, rotation with reuse detection, and logout.

A session is one refresh-token family (its id is the ``sid`` claim of every token issued
in it). Each refresh spends the presented token and issues the next one in the family;
presenting a spent token again means two parties hold it, so the whole family is revoked.
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
    settings,
)
from bookstore.exceptions import Unauthorized
from bookstore.extensions import db
from bookstore.models import RefreshToken, RevokedToken, User
from bookstore.models.base import utcnow
from bookstore.redis.revocation import Markers, publish

log = logging.getLogger("bookstore.auth")
refresh_tokens = RefreshToken.__table__
revoked_tokens = RevokedToken.__table__
users = User.__table__


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _at(timestamp: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def issue(user_id: int, role: str, version: int, session_id: str) -> dict[str, Any]:
    """Stage a refresh token row and return the token pair (the login response body)."""
    refresh, claims = create_refresh_token(user_id, role, session_id)
    db.session.execute(
        refresh_tokens.insert().values(
            token_hash=token_hash(refresh),
            family_id=session_id,
            user_id=user_id,
            issued_at=_at(claims["iat"]),
            expires_at=_at(claims["exp"]),
        )
    )
    access = create_access_token(user_id, role, version=version, session_id=session_id)
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": settings().access_ttl,
    }


def start(user_id: int, role: str, version: int) -> dict[str, Any]:
    """A new session (login). Expired refresh tokens are swept here, using their index."""
    db.session.execute(delete(refresh_tokens).where(refresh_tokens.c.expires_at < utcnow()))
    return issue(user_id, role, version, new_session_id())


def _invalid(message: str = "The refresh token is invalid") -> Unauthorized:
    return Unauthorized(message, code="INVALID_TOKEN")


def rotate(refresh_token: str) -> dict[str, Any]:
    """Spend ``refresh_token`` and return the next pair; commits.

    The conditional UPDATE is the race guard: of two concurrent uses of one token only
    one finds it unspent (PostgreSQL re-checks the WHERE clause after the row lock).
    """
    claims = decode_token(refresh_token, "refresh")
    digest = token_hash(refresh_token)
    now = utcnow()
    spent = db.session.execute(
        update(refresh_tokens)
        .where(
            refresh_tokens.c.token_hash == digest,
            refresh_tokens.c.used_at.is_(None),
            refresh_tokens.c.revoked_at.is_(None),
            refresh_tokens.c.expires_at > now,
        )
        .values(used_at=now)
        .returning(refresh_tokens.c.family_id, refresh_tokens.c.user_id)
    ).first()
    if spent is None:
        _refuse(digest)
    if str(spent.user_id) != claims["sub"] or spent.family_id != claims["sid"]:
        db.session.rollback()
        raise _invalid()
    user = db.session.execute(
        select(users.c.role, users.c.active, users.c.token_version).where(
            users.c.id == spent.user_id
        )
    ).first()
    if user is None or not user.active:
        db.session.rollback()
        raise _invalid()
    pair = issue(spent.user_id, user.role, user.token_version, spent.family_id)
    db.session.commit()
    return pair


def _refuse(digest: str) -> NoReturn:
    """The token was not spendable: unknown, revoked, or spent before (reuse)."""
    row = db.session.execute(
        select(
            refresh_tokens.c.family_id, refresh_tokens.c.used_at, refresh_tokens.c.revoked_at
        ).where(refresh_tokens.c.token_hash == digest)
    ).first()
    if row is None or row.used_at is None or row.revoked_at is not None:
        db.session.rollback()
        raise _invalid()
    markers = revoke_families([row.family_id])
    db.session.commit()
    publish(markers)
    log.warning("refresh token reused: session revoked", extra={"session_id": row.family_id})
    raise _invalid("The refresh token was already used; the session has been revoked")


def revoke_families(family_ids: list[str], user_id: int | None = None) -> Markers:
    stmt = update(refresh_tokens).where(
        refresh_tokens.c.family_id.in_(family_ids), refresh_tokens.c.revoked_at.is_(None)
    )
    if user_id is not None:
        stmt = stmt.where(refresh_tokens.c.user_id == user_id)
    db.session.execute(stmt.values(revoked_at=utcnow()))
    return Markers(sessions=list(family_ids))


def revoke_user_sessions(user_id: int, keep: str | None = None) -> None:
    """Revoke every refresh family of the user except ``keep`` (the caller's session).

    Their access tokens are cut off by the token-version bump that goes with this.
    """
    stmt = update(refresh_tokens).where(
        refresh_tokens.c.user_id == user_id, refresh_tokens.c.revoked_at.is_(None)
    )
    if keep:
        stmt = stmt.where(refresh_tokens.c.family_id != keep)
    db.session.execute(stmt.values(revoked_at=utcnow()))


def logout(identity: Identity | None, refresh_token: str | None) -> None:
    """Revoke the access token's jti and session, and/or the refresh token's family."""
    families: list[str] = []
    user_id = identity.user_id if identity else None
    if refresh_token:
        claims = decode_token(refresh_token, "refresh")
        if user_id is not None and claims["sub"] != str(user_id):
            raise _invalid("The refresh token belongs to another user")
        user_id = int(claims["sub"])
        families.append(claims["sid"])
    markers = Markers()
    if identity is not None:
        families.append(identity.session_id)
        _revoke_jti(identity.jti, identity.expires_at)
        markers.jtis.append((identity.jti, identity.expires_at))
    markers.sessions = revoke_families(sorted(set(families)), user_id).sessions
    db.session.commit()
    publish(markers)


def _revoke_jti(jti: str, expires_at: int) -> None:
    db.session.execute(delete(revoked_tokens).where(revoked_tokens.c.expires_at < utcnow()))
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    db.session.execute(
        dialect.insert(revoked_tokens)
        .values(jti=jti, expires_at=_at(expires_at))
        .on_conflict_do_nothing()
    )
