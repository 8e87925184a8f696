from __future__ import annotations

from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bookstore.extensions import db
from bookstore.models.base import MONEY, TimestampMixin


class Book(TimestampMixin, db.Model):
    __tablename__ = "books"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_non_negative"),
        CheckConstraint("stock >= 0", name="stock_non_negative"),
        # Each index serves a documented filter, sort or keyset cursor (ending on id).
        Index("ix_books_author_id_id", "author_id", "id"),
        Index("ix_books_category_id", "category", "id"),
        Index("ix_books_price_id", "price", "id"),
        Index("ix_books_category_price_id", "category", "price", "id"),
        Index("ix_books_title_id", "title", "id"),
        Index("ix_books_publication_year_id", "publication_year", "id"),
        Index("ix_books_created_at_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    isbn: Mapped[str] = mapped_column(String(13), nullable=False, unique=True)
    author_id: Mapped[int] = mapped_column(
        ForeignKey("authors.id", ondelete="RESTRICT"), nullable=False
    )
    category: Mapped[str] = mapped_column(String(50), nullable=False)
    publication_year: Mapped[int] = mapped_column(nullable=False)
    price: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    stock: Mapped[int] = mapped_column(nullable=False, default=0)
    description: Mapped[str | None] = mapped_column(Text)
