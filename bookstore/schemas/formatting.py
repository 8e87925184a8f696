"""Output formatting shared by the serialisers: money and timestamps as the contract writes them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal


def format_money(value: Decimal | int | float) -> str:
    return f"{value if isinstance(value, Decimal) else Decimal(value):.2f}"


def format_datetime(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``; naive values (SQLite) are taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is not None and value.tzinfo is not dt.UTC:  # PostgreSQL's are UTC
        value = value.astimezone(dt.UTC)
    # The fields by hand: isoformat() asks the time zone for its offset and formats it, to
    # be cut off again; this is a third of its cost (two per row of a list page).
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (  # noqa: UP031 - %-format is the fast one here
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
    )
