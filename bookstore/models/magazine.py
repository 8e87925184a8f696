from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bookstore.extensions import db
from bookstore.models.base import MONEY, TimestampMixin


class Magazine(TimestampMixin, db.Model):
    """One issue of a serial. The ISSN names the serial, so (issn, issue_number) is unique."""

    __tablename__ = "magazines"
    __table_args__ = (
        UniqueConstraint("issn", "issue_number"),
        CheckConstraint("price >= 0", name="price_non_negative"),
        CheckConstraint("stock >= 0", name="stock_non_negative"),
        CheckConstraint("issue_number >= 1", name="issue_number_positive"),
        Index("ix_magazines_category_id", "category", "id"),
        Index("ix_magazines_title_id", "title", "id"),
        Index("ix_magazines_publication_date_id", "publication_date", "id"),
        Index("ix_magazines_price_id", "price", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    issn: Mapped[str] = mapped_column(String(9), nullable=False)
    publisher: Mapped[str] = mapped_column(String(200), nullable=False)
    issue_number: Mapped[int] = mapped_column(nullable=False)
    publication_date: Mapped[dt.date] = mapped_column(nullable=False)
    category: Mapped[str] = mapped_column(String(50), nullable=False)
    price: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    stock: Mapped[int] = mapped_column(nullable=False, default=0)
