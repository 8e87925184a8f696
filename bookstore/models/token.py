"""Server-side token state: refresh tokens (hashed, grouped in families) and revoked jtis."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bookstore.extensions import db
from bookstore.models.base import utcnow


class RefreshFamily(db.Model):
    """One login session: the refresh tokens issued one after the other since a login.

    ``revoked_at`` (logout, reuse, password change, deactivation) ends every token of the
    family at once, including one a concurrent refresh is inserting: refresh and revoke
    both lock this row. ``created_at`` bounds the session (``JWT_SESSION_MAX_AGE``).
    """

    __tablename__ = "refresh_families"
    __table_args__ = (
        Index("ix_refresh_families_user_id", "user_id"),
        Index("ix_refresh_families_created_at", "created_at"),
        Index("ix_refresh_families_revoked_at", "revoked_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, nullable=False
    )
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RefreshToken(db.Model):
    """One issued refresh token of a family; each use rotates it.

    Only the SHA-256 of the token is stored. ``used_at`` marks a token that has been
    exchanged (presenting it again revokes the family).
    """

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_family_id", "family_id"),
        Index("ix_refresh_tokens_user_id", "user_id"),
        Index("ix_refresh_tokens_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    family_id: Mapped[str] = mapped_column(
        ForeignKey("refresh_families.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    issued_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, nullable=False
    )
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RevokedToken(db.Model):
    """An access-token jti revoked before its expiry (logout).

    The database copy is the source of truth when Redis is not configured or is down;
    with Redis the same revocation is also a key that expires with the token.
    """

    __tablename__ = "revoked_tokens"
    __table_args__ = (Index("ix_revoked_tokens_expires_at", "expires_at"),)

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
