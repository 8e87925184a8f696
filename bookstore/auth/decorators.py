"""Decorators that guard views: who may call, and with which role."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import request

from bookstore import apidoc
from bookstore.auth.tokens import Identity, identity_from_access_token
from bookstore.errors import Forbidden, Unauthorized

F = Callable[..., Any]
IDENTITY_KEY = "bookstore.identity"


def _bearer() -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "The Authorization header must be 'Bearer <token>'", code="INVALID_TOKEN"
        )
    return token.strip()


def current_identity() -> Identity | None:
    """The verified caller, or None when no token was sent (cached per request).

    Cached in the WSGI environ rather than ``g``: ``g`` lives as long as the app context,
    which a test (or a CLI task) may keep across several requests.
    """
    environ = request.environ
    if IDENTITY_KEY not in environ:
        token = _bearer()
        environ[IDENTITY_KEY] = authenticate(token) if token else None
    return environ[IDENTITY_KEY]


def authenticate(token: str) -> Identity:
    """Turn a bearer token into an identity; revocation and account checks hook in here."""
    from bookstore.auth import checks

    identity = identity_from_access_token(token)
    checks.ensure_active(identity)
    return identity


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

        return apidoc.security("required")(wrapper)

    return decorator


admin_required = auth_required("admin")
