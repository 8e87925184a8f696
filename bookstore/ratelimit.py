"""Rate limits: Flask-Limiter on a moving window, per user when authenticated, else per IP.

Every request is counted in exactly one client bucket: ``admin`` (any method, for admins),
``write`` (POST/PUT/PATCH/DELETE) or ``read``. ``POST /v1/auth/login`` (endpoint
``auth.login``) is counted instead per client IP and per account (the normalised email in
the body). Health checks, the OpenAPI document, the docs and CORS preflights are exempt.
Limits come from configuration (``RATELIMIT_*``), one limit per setting so that a request
costs one Redis round trip (see :mod:`bookstore.ratelimit_storage`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

import orjson
from flask import Flask, Response, current_app, request
from flask_limiter import Limit, Limiter, RequestLimit
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from bookstore import apidoc, ratelimit_storage  # noqa: F401 - registers bookstore+redis://
from bookstore.auth import Identity, current_identity
from bookstore.errors import APIError, render
from bookstore.redis_client import get_link

log = logging.getLogger("bookstore.ratelimit")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_ENDPOINT = "auth.login"
EXEMPT_ENDPOINTS = frozenset(
    {"root.live", "root.ready", "root.openapi", "root.docs", "root.docs_assets", "static"}
)
DRAFT = "draft-ietf-httpapi-ratelimit-headers-07"

apidoc.COMMON_HEADERS.update(
    {
        "X-RateLimit-Limit": {
            "description": "Requests allowed in the window of the limit that applies",
            "schema": {"type": "integer"},
        },
        "X-RateLimit-Remaining": {
            "description": "Requests left in the moving window",
            "schema": {"type": "integer"},
        },
        "X-RateLimit-Reset": {
            "description": "Seconds until the oldest counted request leaves the window "
            "(one more request is allowed then); equals Retry-After on a 429",
            "schema": {"type": "integer"},
        },
        "RateLimit": {
            "description": f"The same numbers as {DRAFT}: `limit=300, remaining=299, reset=60`",
            "schema": {"type": "string"},
        },
        "RateLimit-Policy": {
            "description": f"The quota policy ({DRAFT}): `300;w=60` (requests;window seconds)",
            "schema": {"type": "string"},
        },
        "X-Cache": {
            "description": "`HIT` or `MISS` on public catalog reads (the shared response cache)",
            "schema": {"type": "string", "enum": ["HIT", "MISS"]},
        },
    }
)


class RateLimited(APIError):
    status = 429
    code = "RATE_LIMIT_EXCEEDED"
    message = "Too many requests; slow down"


def _identity() -> Identity | None:
    # An invalid token is the view's business (401); for counting, the caller is anonymous.
    try:
        return current_identity()
    except APIError:
        return None


def _ip() -> str:
    return f"ip:{request.remote_addr or 'unknown'}"


def client_key() -> str:
    identity = _identity()
    return f"user:{identity.user_id}" if identity else _ip()


def login_account_key() -> str:
    """``account:<hash of the lowercase email>``, or "" when the body names no email."""
    environ = request.environ
    if "bookstore.login_account" not in environ:
        environ["bookstore.login_account"] = _account_from_body()
    return environ["bookstore.login_account"]


def _account_from_body() -> str:
    try:
        payload = orjson.loads(request.get_data(cache=True))
    except (orjson.JSONDecodeError, HTTPException):  # bad JSON, or over MAX_CONTENT_LENGTH
        return ""
    email = payload.get("email") if isinstance(payload, dict) else None
    if not isinstance(email, str) or not email.strip():
        return ""
    # Hashed: emails stay out of Redis keys, and a long string cannot bloat the key.
    digest = hashlib.blake2b(email.strip().lower().encode(), digest_size=16).hexdigest()
    return f"account:{digest}"


def _default_limits(app: Flask) -> list[Limit]:
    cfg = app.config

    def client_limit() -> str:
        if request.endpoint == LOGIN_ENDPOINT:
            return ""  # login has its own limits below
        identity = _identity()
        if identity is not None and identity.is_admin:
            return cfg["RATELIMIT_ADMIN"]
        return cfg["RATELIMIT_WRITE" if request.method in WRITE_METHODS else "RATELIMIT_DEFAULT"]

    def client_scope(endpoint: str) -> str:
        identity = _identity()
        if identity is not None and identity.is_admin:
            return "admin"
        return "write" if request.method in WRITE_METHODS else "read"

    def login_ip_limit() -> str:
        return cfg["RATELIMIT_LOGIN_IP"] if request.endpoint == LOGIN_ENDPOINT else ""

    def login_account_limit() -> str:
        if request.endpoint != LOGIN_ENDPOINT or not login_account_key():
            return ""
        return cfg["RATELIMIT_LOGIN_ACCOUNT"]

    # An empty limit string yields no limit at all: nothing parsed, nothing sent to Redis.
    return [
        Limit(client_limit, key_function=client_key, scope=client_scope, shared=True),
        Limit(login_ip_limit, key_function=_ip, scope="login-ip", shared=True),
        Limit(login_account_limit, key_function=login_account_key, scope="login", shared=True),
    ]


def init_app(app: Flask) -> None:
    """Bind a limiter to ``app`` (one per app: Flask-Limiter keeps its storage on itself)."""
    cfg = app.config
    if cfg["TRUSTED_PROXIES"]:
        # Only the last N X-Forwarded-For hops are believed: those our own proxies added.
        hops = cfg["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    link = get_link(app)
    limiter = Limiter(
        client_key,
        default_limits=_default_limits(app),  # type: ignore[arg-type]
        strategy="moving-window",
        storage_uri="bookstore+redis://" if link else "memory://",
        storage_options={"link": link} if link else {},  # type: ignore[dict-item]
        # Our own headers: seconds until reset (Flask-Limiter sends a timestamp) and the
        # IETF fields. A failure inside the limiter is logged, never a 500.
        headers_enabled=False,
        swallow_errors=True,
        # Unmatched URLs (404/405) count too, under one name.
        request_identifier=lambda: request.endpoint or "unmatched",
        enabled=cfg["RATELIMIT_ENABLED"],
    )
    limiter.request_filter(_exempt)
    limiter.init_app(app)
    app.extensions["bookstore_limiter"] = limiter
    app.after_request(_add_headers)
    app.register_error_handler(RateLimitExceeded, _too_many_requests)


def _exempt() -> bool:
    return request.method == "OPTIONS" or request.endpoint in EXEMPT_ENDPOINTS


def _numbers(limit: RequestLimit) -> tuple[int, int, int, int]:
    """(limit, remaining, seconds until reset, window seconds) of one evaluated limit."""
    reset_at, remaining = limit.window  # kept from the hit: no second round trip
    window = limit.limit.get_expiry()
    reset = min(window, max(0, math.ceil(reset_at - time.time())))
    return limit.limit.amount, max(0, remaining), reset, window


def _applicable(limiter: Limiter) -> RequestLimit | None:
    # The breached limit, else the one closest to running out (as the draft recommends).
    evaluated = limiter.current_limits
    if not evaluated:
        return None
    breached = [limit for limit in evaluated if limit.breached]
    if breached:
        return breached[0]
    return min(evaluated, key=lambda limit: limit.remaining)


def _add_headers(response: Response) -> Response:
    limit = _applicable(current_app.extensions["bookstore_limiter"])
    if limit is None:
        return response
    amount, remaining, reset, window = _numbers(limit)
    headers = response.headers
    headers["X-RateLimit-Limit"] = str(amount)
    headers["X-RateLimit-Remaining"] = str(remaining)
    headers["X-RateLimit-Reset"] = str(reset)
    headers["RateLimit"] = f"limit={amount}, remaining={remaining}, reset={reset}"
    headers["RateLimit-Policy"] = f"{amount};w={window}"
    return response


def _too_many_requests(exc: RateLimitExceeded) -> Response:
    limit = _applicable(current_app.extensions["bookstore_limiter"])
    retry_after = max(1, _numbers(limit)[2]) if limit else 1
    return render(
        RateLimited(
            f"Rate limit of {exc.limit.limit} exceeded; retry in {retry_after} seconds",
            headers={"Retry-After": str(retry_after)},
        )
    )
