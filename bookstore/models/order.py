"""Orders and their lines. A line keeps the title, ISBN and price the book had when ordered.

The state machine (``services.orders``): pending -> paid -> shipped; pending|paid ->
cancelled; pending -> expired when unpaid at ``expires_at``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Index, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bookstore.extensions import db
from bookstore.models.base import MONEY, TimestampMixin

STATUSES = ("pending", "paid", "shipped", "cancelled", "expired")
# An order is "pending" until paid, cancelled, or expired at ``expires_at``.

# 50 lines x 100 copies x the largest price still fits, so a total can never overflow.
TOTAL = Numeric(14, 2, asdecimal=True)


class Order(TimestampMixin, db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'paid', 'shipped', 'cancelled', 'expired')", name="status"
        ),
        CheckConstraint("total >= 0", name="total_non_negative"),
        # Each state carries the timestamp of the transition that reached it.
        CheckConstraint("status NOT IN ('paid', 'shipped') OR paid_at IS NOT NULL", name="paid_at"),
        CheckConstraint("status <> 'shipped' OR shipped_at IS NOT NULL", name="shipped_at"),
        CheckConstraint("status <> 'cancelled' OR cancelled_at IS NOT NULL", name="cancelled_at"),
        CheckConstraint("status <> 'expired' OR expired_at IS NOT NULL", name="expired_at"),
        # A customer's list (newest first, keyset on id) and the admin's filters.
        Index("ix_orders_user_id_created_at_id", "user_id", "created_at", "id"),
        Index("ix_orders_user_id_id", "user_id", "id"),
        Index("ix_orders_created_at_id", "created_at", "id"),
        Index("ix_orders_status_id", "status", "id"),
        # Only pending orders: the expiry scan, and the count behind ORDER_MAX_PENDING.
        Index(
            "ix_orders_pending_expires_at",
            "expires_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index(
            "ix_orders_pending_user_id",
            "user_id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), nullable=False
    )
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    total: Mapped[Decimal] = mapped_column(TOTAL, nullable=False)
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    shipped_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The end of the payment window (ORDER_PAYMENT_TTL after placing), fixed when placed.
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", order_by="OrderItem.id", cascade="all, delete-orphan"
    )


class OrderItem(db.Model):
    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity BETWEEN 1 AND 100", name="quantity"),
        CheckConstraint("unit_price >= 0", name="unit_price_non_negative"),
        Index("ix_order_items_order_id_id", "order_id", "id"),
        Index("ix_order_items_book_id", "book_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    # A deleted book leaves its past orders intact: the snapshot below still says what it was.
    book_id: Mapped[int | None] = mapped_column(ForeignKey("books.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    isbn: Mapped[str] = mapped_column(String(13), nullable=False)
    unit_price: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    quantity: Mapped[int] = mapped_column(nullable=False)

    order: Mapped[Order] = relationship(back_populates="items")
