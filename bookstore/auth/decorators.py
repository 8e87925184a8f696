"""Decorators that guard views: who may call, and with which role."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import request

from bookstore import openapi
from bookstore.auth.tokens import Identity, identity_from_access_token
from bookstore.exceptions import Forbidden, Unauthorized

F = Callable[..., Any]
IDENTITY_KEY = "bookstore.identity"
CLAIMS_KEY = "bookstore.token_claims"


def _bearer(environ: dict[str, Any]) -> str | None:
    header = environ.get("HTTP_AUTHORIZATION")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "The Authorization header must be 'Bearer <token>'", code="INVALID_TOKEN"
        )
    return token.strip()


def token_identity() -> Identity | None:
    """The caller a validly signed, unexpired access token names, or None without a token.

    Only the signature and claims are checked (no revocation or account lookup): enough to
    pick a rate-limit bucket, which is all that public reads need of the caller. A revoked
    token's requests are counted against its own user, which only limits that user
    sooner. Raises 401 for a malformed or forged token; cached per request.
    """
    environ = request.environ
    if CLAIMS_KEY not in environ:
        token = _bearer(environ)
        environ[CLAIMS_KEY] = identity_from_access_token(token) if token else None
    return environ[CLAIMS_KEY]


def current_identity() -> Identity | None:
    """The verified caller, or None when no token was sent (cached per request).

    Verified means signed, unexpired, not revoked, and its user still active with the
    token's role (``checks.ensure_active``). Cached in the WSGI environ rather than
    ``g``: ``g`` lives as long as the app context, which a test (or a CLI task) may keep
    across several requests.
    """
    environ = request.environ
    if IDENTITY_KEY not in environ:
        identity = token_identity()
        if identity is not None:
            from bookstore.auth import checks

            checks.ensure_active(identity)
        environ[IDENTITY_KEY] = identity
    return environ[IDENTITY_KEY]


def auth_required(role: str | None = None) -> Callable[[F], F]:
    """401 without a valid token; 403 when ``role`` is given and the caller lacks it."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            identity = current_identity()
            if identity is None:
                raise Unauthorized()
            if role is not None and identity.role != role:
                raise Forbidden()
            return view(*args, **kwargs)

        return openapi.security("required")(wrapper)

    return decorator


admin_required = auth_required("admin")
