from __future__ import annotations

from sqlalchemy import CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bookstore.extensions import db
from bookstore.models.base import TimestampMixin

ROLES = ("customer", "admin")


class User(TimestampMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('customer', 'admin')", name="role"),
        Index("ix_users_created_at_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(String(100), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), nullable=False, default="customer")
    active: Mapped[bool] = mapped_column(nullable=False, default=True)
    # Bumped when the password, role or active flag changes: access tokens carry the
    # version they were issued under (claim ``ver``), and older ones stop working.
    token_version: Mapped[int] = mapped_column(nullable=False, default=0, server_default="0")
