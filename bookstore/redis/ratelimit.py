"""Rate limits: Flask-Limiter on a moving window, per user when authenticated, else per IP.

Every request is counted in exactly one client bucket: ``admin`` (any method, for admins),
``write`` (POST/PUT/PATCH/DELETE) or ``read``. ``POST /v1/auth/login`` (endpoint
``auth.login``) is counted instead per client IP and per account (the normalised email in
the body). Health checks, the OpenAPI document, the docs and CORS preflights are exempt.
Limits come from configuration (``RATELIMIT_*``), one limit per setting: a request costs
one Redis round trip (two on login), see :mod:`bookstore.ratelimit_storage`.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from flask import Flask, Request, Response, current_app, request
from flask.globals import request_ctx
from flask_limiter import Limit, Limiter, RequestLimit
from flask_limiter._extension import LimiterContext
from flask_limiter.errors import RateLimitExceeded
from limits import WindowStats
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from bookstore import openapi
from bookstore.auth import Identity
from bookstore.auth.decorators import token_identity
from bookstore.exceptions import APIError
from bookstore.redis import ratelimit_storage  # noqa: F401 - registers bookstore+redis://
from bookstore.redis.client import get_link
from bookstore.web.errors import render
from bookstore.web.requests import current_request
from bookstore.web.responses import add_headers

if TYPE_CHECKING:
    from flask_limiter._limits import RuntimeLimit

log = logging.getLogger("bookstore.redis.ratelimit")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_ENDPOINT = "auth.login"
EXEMPT_ENDPOINTS = frozenset(
    {"root.live", "root.ready", "root.openapi", "root.docs", "root.docs_assets", "static"}
)
DRAFT = "draft-ietf-httpapi-ratelimit-headers-07"
KEYS_KEPT = 10_000  # storage keys kept per worker (Policy.storage_key)


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


def _ip(req: Request | None = None) -> str:
    return f"ip:{(req or current_request()).remote_addr or 'unknown'}"


def client_key() -> str:
    identity = _identity()
    return f"user:{identity.user_id}" if identity else _ip()


def login_account_key() -> str:
    """``account:<hash of the lowercase email>``, or "" when the body names no email."""
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


class Policy:
    """Which limits a request is counted against, parsed once from the configuration."""

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        def limit(setting: str, scope: str) -> RuntimeLimit:
            # Iterating Flask-Limiter's declaration yields its runtime form (one per limit).
            (runtime,) = Limit(cfg[setting], key_function=client_key, scope=scope, shared=True)
            return runtime

        self.read = limit("RATELIMIT_DEFAULT", "read")
        self.write = limit("RATELIMIT_WRITE", "write")
        self.admin = limit("RATELIMIT_ADMIN", "admin")
        self.login_ip = limit("RATELIMIT_LOGIN_IP", "login-ip")
        self.login_account = limit("RATELIMIT_LOGIN_ACCOUNT", "login")
        self._keys: dict[tuple[int, str], tuple[list[str], str]] = {}

    def storage_key(self, runtime: RuntimeLimit, key: str) -> tuple[list[str], str]:
        """Flask-Limiter's arguments for ``key`` under ``runtime`` and its storage key.

        ``limits`` joins the key from six strings on every hit; the same few clients
        come back all the time, so the result is kept (bounded, cleared when full).
        """
        cached = self._keys.get((id(runtime), key))
        if cached is None:
            if len(self._keys) >= KEYS_KEPT:
                self._keys.clear()
            args = [key, str(runtime.scope)]
            cached = self._keys[(id(runtime), key)] = (args, runtime.limit.key_for(*args))
        return cached

    def applicable(self, req: Request) -> list[tuple[RuntimeLimit, str]]:
        """``(limit, key)`` pairs, checked in order; one pair except on login."""
        if req.endpoint == LOGIN_ENDPOINT:
            pairs = [(self.login_ip, _ip(req))]
            account = login_account_key()
            if account:
                pairs.append((self.login_account, account))
            return pairs
        identity = _identity()
        if identity is None:
            key = _ip(req)
        elif identity.is_admin:
            return [(self.admin, f"user:{identity.user_id}")]
        else:
            key = f"user:{identity.user_id}"
        return [(self.write if req.method in WRITE_METHODS else self.read, key)]


class _Evaluated(RequestLimit):
    """A :class:`RequestLimit` whose window came back with the hit: no second lookup."""

    def __init__(
        self, extension: Limiter, runtime: RuntimeLimit, args: list[str], key: str, hit: Any
    ) -> None:
        acquired, (oldest, count) = hit
        self.extension = extension  # request-scoped: no cycle for a weak reference to break
        self.limit = limit = runtime.limit
        self.request_args = args
        self.key = key
        self.breached = not acquired
        self.shared = True
        # The moving window's stats, as limits' MovingWindowRateLimiter computes them.
        self.stats = WindowStats(oldest + limit.get_expiry(), limit.amount - count)

    @property
    def window(self) -> WindowStats:
        return self.stats


class PolicyLimiter(Limiter):
    """Flask-Limiter with its request hook specialised to :class:`Policy`.

    The generic hook resolves application, default, blueprint, decorated and meta limits
    for every request: about 70 us of Python here, more than a Redis round trip. Ours
    builds the one or two limits that apply and hits them in Flask-Limiter's storage,
    recording them as Flask-Limiter does (``current_limits``, :class:`RateLimitExceeded`).
    The shared storage answers a hit with the window, so the headers need no second
    lookup. Limits declared with ``@limiter.limit`` still take the generic path.
    """

    def __init__(self, policy: Policy, **kwargs: Any) -> None:
        super().__init__(client_key, **kwargs)
        self.policy = policy

    def init_app(self, app: Flask) -> None:
        """Flask-Limiter's hooks, less the two that do nothing here.

        Its response hook writes Flask-Limiter's own headers (off: :func:`_add_headers`
        writes ours) and refunds ``deduct_when`` limits (not supported, see
        :meth:`limit`); its teardown clears state that lives on the request context and
        goes with it. Together they cost 3 % of a cached read.
        """
        super().init_app(app)
        inject = Limiter._Limiter__inject_headers  # type: ignore[attr-defined]
        release = self._Limiter__release_context  # type: ignore[attr-defined]
        after = app.after_request_funcs.get(None, [])
        after[:] = [hook for hook in after if getattr(hook, "func", None) is not inject]
        teardown = app.teardown_request_funcs.get(None, [])
        teardown[:] = [hook for hook in teardown if hook != release]

    @property
    def context(self) -> LimiterContext:
        """Flask-Limiter's per-request state, kept where Flask-Limiter keeps it.

        Flask-Limiter reads it through the ``request_ctx`` proxy: three failed attribute
        lookups per access, twice per request. The same dictionary, read off the context.
        """
        ctx = request_ctx._get_current_object()  # type: ignore[attr-defined]
        contexts = ctx.__dict__.get("_limiter_request_context")
        if contexts is None:
            contexts = ctx._limiter_request_context = defaultdict(LimiterContext)
        return contexts[self]  # type: ignore[no-any-return]

    def limit(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("deduct_when") is not None:
            raise TypeError("deduct_when is not supported by this limiter")
        return super().limit(*args, **kwargs)

    def _check_request_limit(
        self, callable_name: str | None = None, in_middleware: bool = True
    ) -> None:
        if not in_middleware:
            super()._check_request_limit(callable_name, in_middleware)
            return
        req = current_request()
        if req.method == "OPTIONS" or req.endpoint in EXEMPT_ENDPOINTS:
            return
        context = self.context
        policy = self.policy
        for runtime, key in policy.applicable(req):
            args, storage_key = policy.storage_key(runtime, key)
            try:
                hit = self._hit(runtime.limit, storage_key, args)
            except Exception:  # swallow_errors: a broken limiter must not fail the request
                log.exception("rate limiting failed; request let through")
                return
            current = _Evaluated(self, runtime, args, storage_key, hit)
            context.view_rate_limits.append(current)
            if current.breached:
                context.view_rate_limit = current
                raise RateLimitExceeded(runtime)

    def _hit(self, limit: Any, storage_key: str, args: list[str]) -> Any:
        storage = self.storage
        if isinstance(storage, ratelimit_storage.SharedMovingWindow):
            return storage.acquire_with_window(storage_key, limit.amount, limit.get_expiry())
        acquired = self.limiter.hit(limit, *args)  # in-process storage (embedded mode)
        return acquired, storage.get_moving_window(storage_key, limit.amount, limit.get_expiry())


def init_app(app: Flask) -> None:
    """Bind a limiter to ``app`` (one per app: Flask-Limiter keeps its storage on itself)."""
    cfg = app.config
    if cfg["TRUSTED_PROXIES"]:
        # Only the last N X-Forwarded-For hops are believed: those our own proxies added.
        hops = cfg["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    link = get_link(app)
    limiter = PolicyLimiter(
        Policy(cfg),
        strategy="moving-window",
        storage_uri="bookstore+redis://" if link else "memory://",
        storage_options={"link": link} if link else {},  # type: ignore[dict-item]
        # Our own headers: seconds until reset (Flask-Limiter sends a timestamp) and the
        # IETF fields. Errors inside the limiter are logged, never a 500.
        headers_enabled=False,
        swallow_errors=True,
        enabled=cfg["RATELIMIT_ENABLED"],
    )
    limiter.init_app(app)
    # The policy owns the limits; Flask-Limiter would also build one from RATELIMIT_DEFAULT.
    limiter.limit_manager.set_default_limits([])
    app.extensions["bookstore_limiter"] = limiter
    app.after_request(functools.partial(_add_headers, limiter))
    app.register_error_handler(RateLimitExceeded, _too_many_requests)


def _numbers(limit: RequestLimit) -> tuple[int, int, int, int]:
    """(limit, remaining, seconds until reset, window seconds) of one evaluated limit."""
    reset_at, remaining = limit.window  # kept from the hit: no second round trip
    window = limit.limit.get_expiry()
    reset = min(window, max(0, math.ceil(reset_at - time.time())))
    return limit.limit.amount, max(0, remaining), reset, window


def _applicable(evaluated: list[RequestLimit]) -> RequestLimit | None:
    # The breached limit, else the one closest to running out (as the draft recommends).
    if len(evaluated) < 2:
        return evaluated[0] if evaluated else None
    breached = [limit for limit in evaluated if limit.breached]
    return breached[0] if breached else min(evaluated, key=lambda limit: limit.remaining)


def _add_headers(limiter: Limiter, response: Response) -> Response:
    limit = _applicable(limiter.current_limits)
    if limit is None:
        return response
    amount, remaining, reset, window = _numbers(limit)
    add_headers(  # numbers only: composed pairs (bookstore.web.responses.ComposedHeaders)
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


def _too_many_requests(exc: RateLimitExceeded) -> Response:
    limit = _applicable(current_app.extensions["bookstore_limiter"].current_limits)
    retry_after = max(1, _numbers(limit)[2]) if limit else 1
    return render(
        RateLimited(
            f"Rate limit of {exc.limit.limit} exceeded; retry in {retry_after} seconds",
            headers={"Retry-After": str(retry_after)},
        )
    )
