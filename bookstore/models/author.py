from __future__ import annotations

from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bookstore.extensions import db
from bookstore.models.base import TimestampMixin


class Author(TimestampMixin, db.Model):
    __tablename__ = "authors"
    __table_args__ = (
        CheckConstraint(
            "birth_year IS NULL OR birth_year BETWEEN -3000 AND 9999", name="birth_year"
        ),
        Index("ix_authors_name_id", "name", "id"),
        Index("ix_authors_created_at_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    bio: Mapped[str | None] = mapped_column(Text)
    birth_year: Mapped[int | None]
