"""Keyset cursors: ``base64url(payload).base64url(mac)``, opaque and tamper-evident.

The payload is ``{"s": sort, "v": [boundary values], "d": "n" | "p"}``, signed with
SECRET_KEY; :mod:`bookstore.pagination` turns it back into sort keys and typed values.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import hmac
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
from flask import current_app

from bookstore.exceptions import InvalidQuery


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@functools.lru_cache(maxsize=8)
def _key(secret: str) -> bytes:
    # BLAKE2b takes a key of at most 64 bytes; SECRET_KEY may be longer.
    return hashlib.blake2b(b"bookstore cursor key\n" + secret.encode()).digest()


def signature(payload: str) -> str:
    """BLAKE2b-128 keyed with a key derived from ``SECRET_KEY`` (BLAKE2's own MAC mode).

    HMAC-SHA256 cost 6 us a call here, three calls per cursor page (one verified, two
    signed); keyed BLAKE2b 1.6 us, with the same 128 bits kept.
    """
    key = _key(current_app.config["SECRET_KEY"])
    return _b64(hashlib.blake2b(payload.encode(), key=key, digest_size=16).digest())


def sign(payload: bytes) -> str:
    """A cursor for the JSON ``payload``."""
    encoded = _b64(payload)
    return f"{encoded}.{signature(encoded)}"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def encode_cursor(sort: str, values: Sequence[Any], direction: str) -> str:
    return sign(orjson.dumps({"s": sort, "v": [_plain(v) for v in values], "d": direction}))


def bad_cursor(message: str = "The cursor is malformed or was tampered with.") -> InvalidQuery:
    return InvalidQuery(details=[{"field": "cursor", "code": "INVALID_CURSOR", "message": message}])


def verified_payload(cursor: str) -> Any:
    """The JSON a cursor carries, once its signature checks out; 400 otherwise."""
    try:
        payload, sig = cursor.split(".", 1)
        if not hmac.compare_digest(sig, signature(payload)):
            raise bad_cursor()
        return orjson.loads(_unb64(payload))
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise bad_cursor() from None


def typed(kind: type, value: Any) -> Any:
    """A boundary value from the payload as the column's Python type; 400 if it is not."""
    try:
        if kind is Decimal:
            return Decimal(value)
        if kind is dt.datetime:
            return dt.datetime.fromisoformat(value)
        if kind is dt.date:
            return dt.date.fromisoformat(value)
        if kind is int and not isinstance(value, bool):
            return int(value)
        if kind is str and isinstance(value, str):
            return value
    except (ValueError, TypeError, ArithmeticError):
        pass
    raise bad_cursor()
