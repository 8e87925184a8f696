"""Rate limits on a moving window, per user when authenticated, else per IP.

Every request is counted in exactly one client bucket: ``admin`` (any method, for admins),
``write`` (POST/PUT/PATCH/DELETE) or ``read``. ``POST /v1/auth/login`` (endpoint
``auth.login``) is counted instead per client IP and per account (the normalised email in
the body); a password confirmation (:func:`spend_account_attempt`) spends the same
per-account budget. Health checks, the OpenAPI document, the docs and CORS preflights
are exempt. Limits come from configuration (``RATELIMIT_*``); each limit costs one Redis
round trip (see :mod:`bookstore.redis.ratelimit_storage`). A failing limiter lets the
request through.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import orjson
from flask import Flask, Request, Response, current_app
from limits import RateLimitItem, parse
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from bookstore import openapi
from bookstore.auth import Identity
from bookstore.auth.decorators import token_identity
from bookstore.exceptions import APIError
from bookstore.redis import readahead
from bookstore.redis.client import get_link
from bookstore.redis.ratelimit_storage import Window, Windows
from bookstore.web.requests import current_request
from bookstore.web.responses import add_headers

log = logging.getLogger("bookstore.redis.ratelimit")

EXTENSION = "bookstore_limiter"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_ENDPOINT = "auth.login"
EXEMPT_ENDPOINTS = frozenset(
    {"root.live", "root.ready", "root.openapi", "root.docs", "root.docs_assets", "static"}
) | {"metrics.metrics"}
DRAFT = "draft-ietf-httpapi-ratelimit-headers-07"
_COUNTED = "bookstore.ratelimit.counted"  # environ: [(window, numbers)] of this request


def _header(description: str, kind: str = "integer") -> dict[str, Any]:
    return {"description": description, "schema": {"type": kind}}


openapi.COMMON_HEADERS.update(
    {
        "X-RateLimit-Limit": _header(
            "Requests allowed per window by the limit that applies (per user with a valid "
            "token, else per client IP; absent on /health/*, /docs and OPTIONS)"
        ),
        "X-RateLimit-Remaining": _header("Requests left in the moving window"),
        "X-RateLimit-Reset": _header(
            "Seconds until the oldest counted request leaves the window (one more request "
            "is allowed then); equals Retry-After on a 429"
        ),
        "RateLimit": _header(f"{DRAFT}: `limit=300, remaining=299, reset=60`", "string"),
        "RateLimit-Policy": _header(f"{DRAFT}: `300;w=60` (requests;window seconds)", "string"),
    }
)
openapi.ERROR_DESCRIPTIONS[429] = (
    "Rate limit exceeded (a moving window: reads, writes, admin and login are limited "
    "separately); `Retry-After` is the number of seconds until a request is allowed again"
)


class RateLimited(APIError):
    status = 429
    code = "RATE_LIMIT_EXCEEDED"
    message = "Too many requests; slow down"


def _identity() -> Identity | None:
    # The bucket follows the token's signed claims; revocation is checked where the
    # caller's identity is used (auth_required, orders...), not here: a public read with
    # a token costs no revocation lookup. An invalid token is the view's business (401);
    # for counting, the caller is anonymous.
    try:
        return token_identity()
    except APIError:
        return None


def _ip(req: Request) -> str:
    return f"ip:{req.remote_addr or 'unknown'}"


def account_key(email: str) -> str:
    """``account:<hash of the trimmed, lowercase email>``."""
    # Hashed: emails stay out of Redis keys, and a long string cannot bloat the key.
    digest = hashlib.blake2b(email.strip().lower().encode(), digest_size=16).hexdigest()
    return f"account:{digest}"


def login_account_key(req: Request) -> str:
    """The account a login names, or "" when the body names no email."""
    try:
        payload = orjson.loads(req.get_data(cache=True))
    except (orjson.JSONDecodeError, HTTPException):  # bad JSON, or over MAX_CONTENT_LENGTH
        return ""
    email = payload.get("email") if isinstance(payload, dict) else None
    if not isinstance(email, str) or not email.strip():
        return ""
    return account_key(email)


class Policy:
    """Which limits a request is counted against, parsed once from the configuration."""

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        self.read = parse(cfg["RATELIMIT_DEFAULT"])
        self.write = parse(cfg["RATELIMIT_WRITE"])
        self.admin = parse(cfg["RATELIMIT_ADMIN"])
        self.login_ip = parse(cfg["RATELIMIT_LOGIN_IP"])
        self.login_account = parse(cfg["RATELIMIT_LOGIN_ACCOUNT"])

    def applicable(self, req: Request) -> list[tuple[RateLimitItem, str, str]]:
        """``(limit, scope, key)``, checked in order; one except on login."""
        if req.endpoint == LOGIN_ENDPOINT:
            checks = [(self.login_ip, "login-ip", _ip(req))]
            account = login_account_key(req)
            if account:
                checks.append((self.login_account, "login", account))
            return checks
        identity = _identity()
        if identity is None:
            key = _ip(req)
        elif identity.is_admin:
            return [(self.admin, "admin", f"user:{identity.user_id}")]
        else:
            key = f"user:{identity.user_id}"
        if req.method in WRITE_METHODS:
            return [(self.write, "write", key)]
        return [(self.read, "read", key)]


class Limiter:
    """Counts each request against its limits before the view; 429 past any of them."""

    def __init__(self, policy: Policy, windows: Windows) -> None:
        self.policy = policy
        self.windows = windows

    def check_request(self) -> None:
        req = current_request()
        if req.method == "OPTIONS" or req.endpoint in EXEMPT_ENDPOINTS:
            return
        *first, last = self.policy.applicable(req)
        for limit, scope, key in first:
            self.spend(limit, scope, key)
        # The last limit's script call also reads what the cache will look up next.
        reads = readahead.want(req)
        window = self.spend(*last, reads=reads)
        if reads and window is not None and window.reads is not None:
            readahead.deliver(req, reads, window.reads)

    def spend(
        self, limit: RateLimitItem, scope: str, key: str, reads: list[str] | None = None
    ) -> Window | None:
        """Count one hit of ``key`` under ``limit``; raise :class:`RateLimited` past it."""
        try:
            window = self.windows.hit(limit, scope, key, reads)
        except Exception:  # a broken limiter must not fail the request
            log.exception("rate limiting failed; request let through")
            return None
        numbers = _numbers(limit, window)  # once: the headers and Retry-After agree
        current_request().environ.setdefault(_COUNTED, []).append((window, numbers))
        if not window.acquired:
            retry_after = max(1, numbers[2])
            raise RateLimited(
                f"Rate limit of {limit} exceeded; retry in {retry_after} seconds",
                headers={"Retry-After": str(retry_after)},
            )
        return window


def spend_account_attempt(email: str) -> None:
    """Spend one of the login's per-account attempts for ``email`` (a password check).

    Raises :class:`RateLimited` once the account's budget is spent, whether by logins or
    by password confirmations, so neither can be used to guess faster than the other.
    """
    limiter: Limiter | None = current_app.extensions.get(EXTENSION)
    if limiter is not None:
        limiter.spend(limiter.policy.login_account, "login", account_key(email))


def init_app(app: Flask) -> None:
    """Count requests before the view (register before the cache: cache hits count too)."""
    cfg = app.config
    if cfg["TRUSTED_PROXIES"]:
        # Only the last N X-Forwarded-For hops are believed: those our own proxies added.
        hops = cfg["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    if not cfg["RATELIMIT_ENABLED"]:
        return
    limiter = Limiter(Policy(cfg), Windows(get_link(app)))
    app.extensions[EXTENSION] = limiter
    app.before_request(limiter.check_request)
    app.after_request(_add_headers)


def _numbers(limit: RateLimitItem, window: Window) -> tuple[int, int, int, int]:
    """(limit, remaining, seconds until reset, window seconds) of one counted limit."""
    expiry = limit.get_expiry()
    reset = min(expiry, max(0, math.ceil(window.reset_at - time.time())))
    return limit.amount, max(0, window.remaining), reset, expiry


def _applicable(counted: list[tuple[Window, tuple[int, int, int, int]]]) -> tuple[int, ...]:
    # The breached limit, else the one closest to running out (as the draft recommends).
    for window, numbers in counted:
        if not window.acquired:
            return numbers
    return min(counted, key=lambda pair: pair[1][1])[1]


def _add_headers(response: Response) -> Response:
    counted = current_request().environ.get(_COUNTED)
    if not counted:
        return response
    amount, remaining, reset, window = _applicable(counted)
    add_headers(
        response,
        (
            ("X-RateLimit-Limit", str(amount)),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-Reset", str(reset)),
            ("RateLimit", f"limit={amount}, remaining={remaining}, reset={reset}"),
            ("RateLimit-Policy", f"{amount};w={window}"),
        ),
    )
    return response
