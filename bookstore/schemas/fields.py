"""Field types and validators shared by every schema, and marshmallow error -> details."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import fields

from bookstore.exceptions import fail
from bookstore.schemas.formatting import format_datetime, format_money

MAX_PRICE = Decimal("99999999.99")


class Text(fields.String):
    """A string with NUL bytes refused, surrounding whitespace stripped and a max length."""

    def __init__(self, *, max_length: int, min_length: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length
        self.min_length = min_length
        self.metadata.setdefault("maxLength", max_length)
        if min_length:
            self.metadata.setdefault("minLength", min_length)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if "\x00" in text:
            raise fail("INVALID_FORMAT", "Must not contain NUL characters.")
        if len(text) > self.max_length:
            raise fail("TOO_LONG", f"Longer than the maximum length of {self.max_length}.")
        if len(text) < self.min_length:
            raise fail(
                "TOO_SHORT" if text else "REQUIRED",
                f"Shorter than the minimum length of {self.min_length}.",
            )
        return text


class Money(fields.Field):
    """A decimal amount: accepts a string or number with at most two decimals, dumps "12.99"."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {})
        kwargs["metadata"].setdefault("type", "string")
        kwargs["metadata"].setdefault("pattern", r"^\d{1,8}(\.\d{1,2})?$")
        kwargs["metadata"].setdefault("example", "12.99")
        super().__init__(**kwargs)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format_money(value)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        return parse_money(value)


def parse_money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise fail("INVALID_TYPE", 'Must be a decimal string or number, e.g. "12.99".')
    text = str(value).strip() if not isinstance(value, float) else repr(value)
    if not re.fullmatch(r"\d+(\.\d+)?", text):
        raise fail("INVALID_FORMAT", 'Must be a non-negative amount such as "12.99".')
    try:
        amount = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise fail("INVALID_FORMAT", "Not a valid amount.") from None
    if amount.as_tuple().exponent < -2 and amount != amount.quantize(Decimal("0.01")):
        raise fail("INVALID_FORMAT", "Must have at most two decimal places.")
    if amount > MAX_PRICE:
        raise fail("OUT_OF_RANGE", f"Must not exceed {MAX_PRICE}.")
    return amount.quantize(Decimal("0.01"))


class UTCDateTime(fields.DateTime):
    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return format_datetime(value)


# -- identifiers ---------------------------------------------------------------------


def normalise_isbn(value: str) -> str:
    """Return the ISBN-13 for an ISBN-13 or ISBN-10 (hyphens and spaces allowed)."""
    raw = re.sub(r"[\s-]", "", value).upper()
    if re.fullmatch(r"\d{13}", raw):
        total = sum((1 if i % 2 == 0 else 3) * int(c) for i, c in enumerate(raw[:12]))
        if (10 - total % 10) % 10 != int(raw[12]):
            raise fail("INVALID_CHECKSUM", "ISBN-13 check digit does not match.")
        return raw
    if re.fullmatch(r"\d{9}[\dX]", raw):
        total = sum((10 - i) * (10 if c == "X" else int(c)) for i, c in enumerate(raw))
        if total % 11 != 0:
            raise fail("INVALID_CHECKSUM", "ISBN-10 check digit does not match.")
        body = "978" + raw[:9]
        total = sum((1 if i % 2 == 0 else 3) * int(c) for i, c in enumerate(body))
        return body + str((10 - total % 10) % 10)
    raise fail("INVALID_FORMAT", "Must be an ISBN-13 (or ISBN-10) of digits and hyphens.")


def normalise_issn(value: str) -> str:
    """Return the ISSN as ``NNNN-NNNC`` after checking its check digit."""
    raw = re.sub(r"[\s-]", "", value).upper()
    if not re.fullmatch(r"\d{7}[\dX]", raw):
        raise fail("INVALID_FORMAT", "Must be an ISSN such as 0317-8471.")
    total = sum((8 - i) * int(c) for i, c in enumerate(raw[:7]))
    check = (11 - total % 11) % 11
    if (10 if raw[7] == "X" else int(raw[7])) != check:
        raise fail("INVALID_CHECKSUM", "ISSN check digit does not match.")
    return f"{raw[:4]}-{raw[4:]}"


def not_in_future_year(year: int) -> None:
    if year > dt.datetime.now(dt.UTC).year:
        raise fail("IN_FUTURE", "Must not be in the future.")


def not_in_future_date(day: dt.date) -> None:
    if day > dt.datetime.now(dt.UTC).date():
        raise fail("IN_FUTURE", "Must not be in the future.")


class ISBN(Text):
    """An ISBN-13 or ISBN-10, checksum-validated and normalised to ISBN-13."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault("example", "9780441172719")
        super().__init__(max_length=17, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        return normalise_isbn(super()._deserialize(value, attr, data, **kwargs))


class ISSN(Text):
    """An ISSN, checksum-validated and normalised to ``NNNN-NNNC``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault("example", "0317-8471")
        super().__init__(max_length=9, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        return normalise_issn(super()._deserialize(value, attr, data, **kwargs))
