"""Column helpers shared by every model."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Numeric
from sqlalchemy.orm import Mapped, mapped_column

MONEY = Numeric(10, 2, asdecimal=True)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TimestampMixin:
    # Callables, not values: a default evaluated at import would stamp every row alike.
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, nullable=False
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, nullable=False
    )
