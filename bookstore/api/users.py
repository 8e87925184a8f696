"""Users: the caller's own account, and account administration (admins)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import select

from bookstore import openapi
from bookstore.api.resource import escape_like, locked_for_write
from bookstore.auth import admin_required, auth_required, current_identity
from bookstore.auth.tokens import Identity
from bookstore.exceptions import NotFound, Unauthorized
from bookstore.extensions import db
from bookstore.models import User
from bookstore.pagination import ListSpec, paginate, select_fields
from bookstore.schemas.user import (
    UserListQuery,
    UserSchema,
    admin_user_patch_schema,
    profile_patch_schema,
    user_schema,
    user_to_dict,
)
from bookstore.services import accounts
from bookstore.web.responses import collection_response, resource_response

bp = Blueprint("users", __name__)
users = User.__table__
# Listed explicitly: the hash and the token version never leave the database.
COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.name,
    users.c.role,
    users.c.active,
    users.c.created_at,
    users.c.updated_at,
)
USER_LIST = ListSpec(
    sortable={"id": users.c.id, "email": users.c.email, "created_at": users.c.created_at},
    fields=tuple(user_schema.dump_fields),
)


def _identity() -> Identity:
    identity = current_identity()
    assert identity is not None  # auth_required ran first
    return identity


@bp.get("/users/me")
@auth_required()
@openapi.response(UserSchema)
def get_me():
    """Get the caller's own account."""
    row = db.session.execute(select(*COLUMNS).where(users.c.id == _identity().user_id)).first()
    if row is None:
        raise Unauthorized("The token is invalid", code="INVALID_TOKEN")
    return resource_response(user_to_dict(row))


@bp.patch("/users/me")
@auth_required()
@openapi.body(profile_patch_schema, merge_patch=True)
@openapi.response(UserSchema)
@openapi.errors(409)
def update_me(body: dict[str, Any]):
    """Update the caller's own account (name, email, password) with a JSON merge patch.

    Changing `email` or `password` requires `current_password` (400 `VALIDATION_ERROR`
    naming `current_password` when it is missing or wrong); each check spends one of the
    account's login attempts (`RATELIMIT_LOGIN_ACCOUNT`), 429 once they are spent. A
    password change revokes
    every other session and every access token issued before it, including the one
    used for this request: the caller keeps its session by calling `POST /v1/auth/refresh`
    with its refresh token. A taken email is 409 `DUPLICATE_RESOURCE`.
    """
    identity = _identity()
    user = accounts.update_profile(
        identity, body, lambda: locked_for_write(User, identity.user_id, user_to_dict)
    )
    return resource_response(user_to_dict(user))


@bp.get("/users")
@admin_required
@openapi.query(UserListQuery)
@openapi.response(UserSchema, many=True)
def list_users(query: dict[str, Any]):
    """List accounts (admin), filtered by `role`, `active` and `email` (substring)."""
    stmt = select(*COLUMNS)
    if "role" in query:
        stmt = stmt.where(users.c.role == query["role"])
    if "active" in query:
        stmt = stmt.where(users.c.active == query["active"])
    if "email" in query:
        pattern = f"%{escape_like(query['email'].lower())}%"
        stmt = stmt.where(users.c.email.like(pattern, escape="\\"))
    page = paginate(stmt, query, USER_LIST, "/v1/users")
    items = [select_fields(user_to_dict(row), page.fields) for row in page.rows]
    return collection_response(items, page.pagination, page.links)


@bp.get("/users/<int:user_id>")
@admin_required
@openapi.response(UserSchema)
def get_user(user_id: int):
    """Get one account (admin)."""
    row = db.session.execute(select(*COLUMNS).where(users.c.id == user_id)).first()
    if row is None:
        raise NotFound()
    return resource_response(user_to_dict(row))


@bp.patch("/users/<int:user_id>")
@admin_required
@openapi.body(admin_user_patch_schema, merge_patch=True)
@openapi.response(UserSchema)
def update_user(user_id: int, body: dict[str, Any]):
    """Change an account's role or active flag (admin).

    Takes effect on the user's very next request: their existing access tokens stop
    working (401 `INVALID_TOKEN`); a deactivated user's sessions are revoked and they
    cannot log in. Admins cannot change their own role or active flag (403).
    """
    user = accounts.admin_update(
        lambda: locked_for_write(User, user_id, user_to_dict), _identity(), body
    )
    return resource_response(user_to_dict(user))
