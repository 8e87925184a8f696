"""``Idempotency-Key`` for POST requests: one outcome per key, replayed on every retry.

The key row and the request's effects commit in ONE transaction, so a crash can never
leave an order without its key or a key without its order:

1. The claim is one statement: ``INSERT ... ON CONFLICT DO UPDATE ... WHERE expired``
   takes the key (or an expired one) and, on PostgreSQL, first takes
   ``pg_try_advisory_xact_lock`` on the (caller, key) hash, inserting nothing without
   it. No row back means a stored outcome (replay it if the fingerprint matches, else
   422), or a request with the key still running: 409 IDEMPOTENCY_KEY_IN_USE at once
   instead of waiting on it.
2. The view runs with its commits deferred (``services.transaction``); its response is
   written into the key row and everything commits together.
3. A business error (404, 409 ...) is stored too: the transaction is rolled back, which
   undoes the view's partial work and the claim, and the key is claimed again to store
   the error. Had another request with the key claimed it in between, its outcome is the
   key's: it is replayed, or 409 IDEMPOTENCY_KEY_IN_USE while it runs. Input errors
   (400/413/415) and 5xx store nothing, so the key can be retried.

SQLite serialises writers: the claiming INSERT is the request's first write, so a second
identical request waits for the first to commit (busy timeout) and then replays it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from collections.abc import Callable
from typing import Any

import orjson
from flask import current_app, make_response, request
from sqlalchemy import DateTime, String, bindparam, delete, literal, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bookstore import openapi
from bookstore.auth import current_identity
from bookstore.exceptions import APIError, BadRequest, Conflict, UnprocessableEntity
from bookstore.extensions import db
from bookstore.models import IdempotencyKey
from bookstore.models.base import utcnow
from bookstore.services import transaction
from bookstore.web.errors import render
from bookstore.web.responses import Response

F = Callable[..., Any]
KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RETRY_AFTER_SECONDS = 1
_KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")
# Input rejected before anything happened: the client may fix it and retry with the key.
_NOT_STORED = frozenset({400, 413, 415})
_REPLAY_HEADERS = ("Content-Type", "Location", "ETag", "Cache-Control")
keys = IdempotencyKey.__table__


def idempotent(*, required: bool = False) -> Callable[[F], F]:
    """Make a POST view idempotent per ``Idempotency-Key`` (``required``: 400 without it).

    Place it inside the auth and body decorators (the caller scopes the key, and a body
    that fails validation never touches the key). The view must commit through
    ``services.transaction.commit()``.
    """

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = _key_from_header(required)
            if key is None:
                return view(*args, **kwargs)
            claim = (_caller(), key, _fingerprint())
            claimed = _claim(*claim)
            if isinstance(claimed, Response):
                return claimed
            return _run(claim, claimed, view, args, kwargs)

        openapi.header(
            KEY_HEADER,
            "Unique key for this operation (1-255 visible ASCII characters, e.g. a UUID). "
            "A retry with the same key and request replays the first outcome with "
            "`Idempotent-Replayed: true`; a different request with it is 422; while the "
            "first is still running, 409 `IDEMPOTENCY_KEY_IN_USE` with `Retry-After`.",
            required=required,
            pattern=f"^{_KEY_RE.pattern}$",
        )(wrapper)
        openapi.errors(400, 409, 422)(wrapper)
        return wrapper

    return decorator


def _key_from_header(required: bool) -> str | None:
    value = request.headers.get(KEY_HEADER)
    if value is None:
        if not required:
            return None
        raise BadRequest(
            "The Idempotency-Key header is required",
            details=[_detail("REQUIRED", "Send a unique key (e.g. a UUID) for this operation.")],
        )
    if not _KEY_RE.fullmatch(value):
        raise BadRequest(
            "The Idempotency-Key header is invalid",
            details=[_detail("INVALID_FORMAT", "Use 1 to 255 visible ASCII characters.")],
        )
    return value


def _detail(code: str, message: str) -> dict[str, str]:
    return {"field": KEY_HEADER, "code": code, "message": message}


def _caller() -> str:
    """Keys are scoped to the caller: the user, or the client address when anonymous."""
    identity = current_identity()
    return f"user:{identity.user_id}" if identity else f"ip:{request.remote_addr}"


def _fingerprint() -> str:
    """Method, path (with query) and the body as canonical JSON (sorted keys, no spaces)."""
    raw = request.get_data(cache=True)
    try:
        body = orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS) if raw else b""
    except orjson.JSONDecodeError:
        body = raw
    digest = hashlib.sha256(f"{request.method} {request.path}?".encode())
    digest.update(request.query_string + b"\n" + body)
    return digest.hexdigest()


def advisory_lock_id(caller: str, key: str) -> int:
    """The PostgreSQL advisory lock held while a request with this key runs (64-bit hash)."""
    digest = hashlib.sha256(f"idempotency\n{caller}\n{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# SQLAlchemy 2.0 has no cache key for its PostgreSQL INSERT ... ON CONFLICT construct:
# built with it, the claim was compiled on every request (about a sixth of an order's CPU).
# As text it is compiled once. Take the advisory lock, then insert the key or take over an
# expired one; no row back: the key is held by another request, or has an outcome.
CLAIM_PG = text(
    "WITH key_lock AS (SELECT pg_try_advisory_xact_lock(:lock_id) AS held)"
    " INSERT INTO idempotency_keys (caller, key, fingerprint, created_at, expires_at)"
    " SELECT :caller, :key, :fingerprint, :now, :expires_at FROM key_lock WHERE key_lock.held"
    " ON CONFLICT (caller, key) DO UPDATE SET fingerprint = excluded.fingerprint,"
    " status_code = NULL, response_body = NULL, response_headers = NULL,"
    " created_at = excluded.created_at, expires_at = excluded.expires_at"
    " WHERE idempotency_keys.expires_at <= :now"
    " RETURNING idempotency_keys.id"
).bindparams(
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("expires_at", type_=DateTime(timezone=True)),
)


def _claim_sqlite(
    caller: str, key: str, fingerprint: str, now: dt.datetime, until: dt.datetime
) -> Any:
    """The claim on SQLite, which serialises writers and needs no advisory lock."""
    row = {
        "caller": literal(caller, String),
        "key": literal(key, String),
        "fingerprint": literal(fingerprint, String),
        "created_at": literal(now, DateTime(timezone=True)),
        "expires_at": literal(until, DateTime(timezone=True)),
    }
    stmt = sqlite_insert(keys).from_select(list(row), select(*row.values()))
    fresh = {
        "fingerprint": stmt.excluded.fingerprint,
        "status_code": None,
        "response_body": None,
        "response_headers": None,
        "created_at": stmt.excluded.created_at,
        "expires_at": stmt.excluded.expires_at,
    }
    return stmt.on_conflict_do_update(
        index_elements=[keys.c.caller, keys.c.key], set_=fresh, where=keys.c.expires_at <= now
    ).returning(keys.c.id)


def _claim(caller: str, key: str, fingerprint: str) -> int | Response:
    """The claimed row's id, or the stored outcome to replay; 409/422 otherwise."""
    session = db.session
    now = utcnow()
    until = now + dt.timedelta(seconds=current_app.config["IDEMPOTENCY_TTL_SECONDS"])
    if db.engine.dialect.name == "postgresql":
        params = {
            "lock_id": advisory_lock_id(caller, key),
            "caller": caller,
            "key": key,
            "fingerprint": fingerprint,
            "now": now,
            "expires_at": until,
        }
        claimed = session.execute(CLAIM_PG, params)
    else:
        claimed = session.execute(_claim_sqlite(caller, key, fingerprint, now, until))
    row_id = claimed.scalar_one_or_none()
    if row_id is not None:
        return row_id
    expired = (keys.c.expires_at <= now).label("expired")
    stored = session.execute(
        select(keys, expired).where(keys.c.caller == caller, keys.c.key == key)
    ).first()
    session.rollback()
    # No stored outcome (or only an expired one): another request holds the key's lock.
    if stored is None or stored.status_code is None or stored.expired:
        raise _in_use()
    if stored.fingerprint != fingerprint:
        raise UnprocessableEntity(
            "This Idempotency-Key was already used with a different request",
            details=[_detail("KEY_REUSED", "Use a new key for a different request.")],
        )
    return _replay(stored)


def _in_use() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still being processed",
        code="IDEMPOTENCY_KEY_IN_USE",
        details=[_detail("IN_USE", "Retry after the time in Retry-After.")],
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _replay(stored: Any) -> Response:
    response = Response(stored.response_body, status=stored.status_code)
    response.headers.update(stored.response_headers or {})
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _run(claim: tuple[str, str, str], row_id: int, view: F, args: Any, kwargs: Any) -> Response:
    transaction.join()
    error: APIError | None = None
    try:
        response = make_response(view(*args, **kwargs))
    except APIError as exc:
        error = exc
    except BaseException:
        db.session.rollback()
        raise
    finally:
        transaction.leave()
    if error is not None:
        db.session.rollback()  # the view's partial work, and the claim with it
        if not _storable(error.status):
            raise error
        response = render(error)
        claimed = _claim(*claim)  # again, to store the error (see the module, step 3)
        if isinstance(claimed, Response):
            return claimed
        row_id = claimed
    elif not _storable(response.status_code):
        db.session.rollback()
        return response
    headers = {name: response.headers[name] for name in _REPLAY_HEADERS if name in response.headers}
    db.session.execute(
        update(keys)
        .where(keys.c.id == row_id)
        .values(
            status_code=response.status_code,
            response_body=response.get_data(),
            response_headers=headers,
        )
    )
    db.session.commit()
    return response


def _storable(status: int) -> bool:
    return status < 500 and status not in _NOT_STORED


def purge_expired(now: dt.datetime | None = None) -> int:
    """Delete every key past its ``expires_at``; returns how many."""
    result = db.session.execute(delete(keys).where(keys.c.expires_at <= (now or utcnow())))
    db.session.commit()
    return result.rowcount
