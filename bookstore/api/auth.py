"""Authentication: register, login, refresh and logout."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from bookstore import openapi
from bookstore.api.users import user_to_dict
from bookstore.auth import current_identity
from bookstore.exceptions import Unauthorized
from bookstore.schemas.auth import TokenSchema, login_schema, logout_schema, refresh_schema
from bookstore.schemas.user import UserSchema, register_schema
from bookstore.services import accounts, sessions
from bookstore.web.responses import no_content, resource_response

bp = Blueprint("auth", __name__)


@bp.post("/auth/register")
@openapi.body(register_schema)
@openapi.response(UserSchema, 201, description="Created", headers={"Location": "string"})
@openapi.errors(409)
def register(body: dict[str, Any]):
    """Create a customer account.

    The email is trimmed and lowercased; it must be unique (409 `DUPLICATE_RESOURCE`).
    The password needs at least 12 characters and at most 72 bytes in UTF-8, and must not
    be a common password, a run of repeated or sequential characters, or the email
    itself; there are no composition rules. Registering does not log in: call
    `POST /v1/auth/login` next. `Location` is the account's admin URL; the owner reads it
    at `/v1/users/me`.
    """
    user = accounts.register(body["email"], body["password"], body.get("name"))
    data = user_to_dict(user)
    return resource_response(data, status=201, location=data["_links"]["self"])


@bp.post("/auth/login")
@openapi.body(login_schema)
@openapi.response(TokenSchema, description="An access token (15 minutes) and a refresh token")
@openapi.errors(401)
def login(body: dict[str, Any]):
    """Exchange an email and password for an access and a refresh token.

    Any failure (unknown email, wrong password, deactivated account) is the same
    401 `INVALID_CREDENTIALS`, answered in the same time. Each login starts a new session
    (refresh-token family).
    """
    return resource_response(accounts.login(body["email"], body["password"]))


@bp.post("/auth/refresh")
@openapi.body(refresh_schema)
@openapi.response(TokenSchema, description="A new token pair; the old refresh token is spent")
@openapi.errors(401)
def refresh(body: dict[str, Any]):
    """Exchange a refresh token for a new access and refresh token.

    Refresh tokens are single use. Presenting one that was already used revokes its whole
    session (both parties holding it are logged out): 401 `INVALID_TOKEN`. An expired one
    is 401 `TOKEN_EXPIRED`. A deactivated account cannot refresh. A session ends
    `JWT_SESSION_MAX_AGE` (30 days by default) after its login however often it is
    refreshed: past that a refresh is 401 `INVALID_TOKEN`, and no token outlives it.
    """
    return resource_response(sessions.rotate(body["refresh_token"]))


@bp.post("/auth/logout")
@openapi.security("optional")
@openapi.body(logout_schema, optional=True)
@openapi.response(None, 204, description="Logged out")
@openapi.errors(401)
def logout(body: dict[str, Any]):
    """Log out: revoke the access token and its session.

    Send the access token as `Authorization: Bearer`, and/or a body
    `{"refresh_token": "..."}` (useful once the access token has expired; an expired
    access token sent along with a refresh token is ignored). The access
    token is revoked until it expires, and the session's refresh tokens (and any other
    access token issued in the same session) stop working at once.
    """
    token = body.get("refresh_token")
    try:
        identity = current_identity()
    except Unauthorized as exc:
        # An expired access token next to a refresh token: log out with the latter.
        if exc.code != "TOKEN_EXPIRED" or not token:
            raise
        identity = None
    if identity is None and not token:
        raise Unauthorized("Send the access token, or the refresh token in the body")
    sessions.logout(identity, token)
    return no_content()
