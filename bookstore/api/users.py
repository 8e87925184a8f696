"""Users: the caller's own account, and account administration (admins)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import select

from bookstore import apidoc
from bookstore.api.resource import escape_like, locked_for_write
from bookstore.auth import admin_required, auth_required, current_identity
from bookstore.auth.tokens import Identity
from bookstore.errors import NotFound, Unauthorized
from bookstore.extensions import db
from bookstore.http import collection_response, resource_response
from bookstore.models import User
from bookstore.pagination import ListSpec, paginate, select_fields
from bookstore.schemas.user import (
    UserListQuery,
    UserSchema,
    admin_user_patch_schema,
    profile_patch_schema,
    user_schema,
)
from bookstore.services import accounts
from bookstore.validation import format_datetime

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


def user_to_dict(row: Any) -> dict[str, Any]:
    """Fast dump path, equal to ``user_schema.dump`` (a test holds them together)."""
    return {
        "id": row.id,
        "email": row.email,
        "name": row.name,
        "role": row.role,
        "active": row.active,
        "created_at": format_datetime(row.created_at),
        "updated_at": format_datetime(row.updated_at),
        "_links": {"self": f"/v1/users/{row.id}"},
    }


def _identity() -> Identity:
    identity = current_identity()
    assert identity is not None  # auth_required ran first
    return identity


@bp.get("/users/me")
@auth_required()
@apidoc.response(UserSchema)
def get_me():
    """Get the caller's own account."""
    row = db.session.execute(select(*COLUMNS).where(users.c.id == _identity().user_id)).first()
    if row is None:
        raise Unauthorized("The token is invalid", code="INVALID_TOKEN")
    return resource_response(user_to_dict(row))


@bp.patch("/users/me")
@auth_required()
@apidoc.body(profile_patch_schema, merge_patch=True)
@apidoc.response(UserSchema)
@apidoc.errors(409)
def update_me(body: dict[str, Any]):
    """Update the caller's own account (name, email, password) with a JSON merge patch.

    Changing `email` or `password` requires `current_password` (400 `VALIDATION_ERROR`
    naming `current_password` when it is missing or wrong). A password change revokes
    every other session and every access token issued before it, including the one
    used for this request: the caller keeps its session by calling `POST /v1/auth/refresh`
    with its refresh token. A taken email is 409 `DUPLICATE_RESOURCE`.
    """
    identity = _identity()
    user = locked_for_write(User, identity.user_id, user_to_dict)
    return resource_response(user_to_dict(accounts.update_profile(user, identity, body)))


@bp.get("/users")
@admin_required
@apidoc.query(UserListQuery)
@apidoc.response(UserSchema, many=True)
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
@apidoc.response(UserSchema)
def get_user(user_id: int):
    """Get one account (admin)."""
    row = db.session.execute(select(*COLUMNS).where(users.c.id == user_id)).first()
    if row is None:
        raise NotFound()
    return resource_response(user_to_dict(row))


@bp.patch("/users/<int:user_id>")
@admin_required
@apidoc.body(admin_user_patch_schema, merge_patch=True)
@apidoc.response(UserSchema)
def update_user(user_id: int, body: dict[str, Any]):
    """Change an account's role or active flag (admin).

    Takes effect on the user's very next request: their existing access tokens stop
    working (401 `INVALID_TOKEN`); a deactivated user's sessions are revoked and they
    cannot log in. Admins cannot change their own role or active flag (403).
    """
    user = locked_for_write(User, user_id, user_to_dict)
    return resource_response(user_to_dict(accounts.admin_update(user, _identity(), body)))
