"""Per-request checks on a verified token: revoked tokens and deactivated/demoted users.

Budget: one Redis round trip (an MGET of three keys, see ``redis.revocation``) and no SQL
while Redis is up; one indexed SQL query when Redis is not configured or is down. A
Redis failure opens the app's breaker (``redis.client``) and the database answers
instead, never a 500; while it is open Redis is skipped, not waited for.
"""

from __future__ import annotations

from sqlalchemy import exists, select

from bookstore.auth.tokens import Identity
from bookstore.exceptions import Unauthorized
from bookstore.extensions import db
from bookstore.models import RefreshToken, RevokedToken, User
from bookstore.redis.client import get_link
from bookstore.redis.revocation import jti_key, session_key, version_key

users = User.__table__
refresh_tokens = RefreshToken.__table__
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
        )
        values = link.run("token checks", lambda client: client.mget(keys))
        if values is not None:
            _check_markers(identity, values)
            return
    _check_database(identity)


def _check_markers(identity: Identity, values: list[bytes | None]) -> None:
    jti_revoked, session_revoked, version = values
    if jti_revoked is not None or session_revoked is not None:
        raise _revoked()
    if version is not None and identity.version < int(version):
        raise _revoked()


def _check_database(identity: Identity) -> None:
    jti_revoked = exists().where(revoked_tokens.c.jti == identity.jti)
    session_revoked = exists().where(
        refresh_tokens.c.family_id == identity.session_id,
        refresh_tokens.c.revoked_at.is_not(None),
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
