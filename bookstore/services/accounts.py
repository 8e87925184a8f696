"""Accounts: registration, login, profile and password changes, admin changes, create-admin.

Every change that must cut off existing access tokens (password, role, active flag)
bumps ``users.token_version`` in the same transaction, then mirrors the new version into
Redis once committed (``auth.revocation``), so it takes effect on the very next request.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select, update

from bookstore.auth.passwords import check_policy, hash_password, needs_rehash, verify_password
from bookstore.auth.tokens import Identity
from bookstore.exceptions import Conflict, Forbidden, Msg, Unauthorized
from bookstore.extensions import db
from bookstore.models import User
from bookstore.redis.ratelimit import spend_account_attempt
from bookstore.redis.revocation import Markers, publish
from bookstore.services import sessions
from bookstore.services.deadlocks import retry_on_deadlock

users = User.__table__


def register(email: str, password: str, name: str | None = None) -> User:
    """Create a customer; a taken email is a 409 through the unique constraint."""
    user = User(email=email, password_hash=hash_password(password), name=name, role="customer")
    db.session.add(user)
    db.session.commit()
    return user


def login(email: str, password: str) -> dict[str, Any]:
    """Return a token pair, or one generic 401 whatever was wrong, in the same time."""
    row = db.session.execute(
        select(
            users.c.id, users.c.password_hash, users.c.role, users.c.active, users.c.token_version
        ).where(users.c.email == email)
    ).first()
    db.session.rollback()  # no transaction is held open across bcrypt
    # bcrypt runs on every path (a dummy hash for unknown emails) so timing reveals nothing.
    valid = verify_password(password, row.password_hash if row else None)
    if row is None or not valid or not row.active:
        raise Unauthorized("Invalid email or password", code="INVALID_CREDENTIALS")
    upgrade = hash_password(password) if needs_rehash(row.password_hash) else None
    return retry_on_deadlock(lambda: _start_session(row, upgrade))


def _start_session(row: Any, upgrade: str | None) -> dict[str, Any]:
    # Under the user row's lock: a password change or deactivation that committed since
    # the check above would otherwise miss this new session.
    current = db.session.execute(
        select(users.c.password_hash, users.c.active, users.c.token_version)
        .where(users.c.id == row.id)
        .with_for_update(read=upgrade is None)
    ).first()
    if current is None or (current.password_hash, current.active, current.token_version) != (
        row.password_hash,
        True,
        row.token_version,
    ):
        db.session.rollback()
        raise Unauthorized("Invalid email or password", code="INVALID_CREDENTIALS")
    if upgrade is not None:
        # The configured cost changed since this hash was made: upgrade it now that we
        # hold the plain password.
        db.session.execute(update(users).where(users.c.id == row.id).values(password_hash=upgrade))
    pair = sessions.start(row.id, row.role, row.token_version)
    db.session.commit()
    return pair


def _field_error(field: str, code: str, text: str) -> ValidationError:
    return ValidationError({field: [Msg(code, text)]})


# A concurrent change of the hash between the check and the lock: check again, this often.
PROFILE_ATTEMPTS = 3


def update_profile(identity: Identity, changes: dict[str, Any], lock: Callable[[], User]) -> User:
    """Apply a PATCH /v1/users/me merge patch and commit; ``lock`` loads and locks the user.

    Changing the email or the password needs ``current_password``, checked within the
    account's login budget (``RATELIMIT_LOGIN_ACCOUNT``, 429 past it). A new password bumps
    the token version (every access token issued before stops working, including the
    caller's) and revokes every refresh family except the caller's session, which can
    refresh to continue. bcrypt runs before the row is locked; the hash it checked is
    compared again under the lock.
    """
    changes = dict(changes)
    current = changes.pop("current_password", None)
    needs_current = "password" in changes or "email" in changes
    if needs_current and current is None:
        raise _field_error(
            "current_password", "REQUIRED", "Required to change the email or password."
        )
    for _ in range(PROFILE_ATTEMPTS):
        checked, new_hash = _check_password_change(identity, changes, current)
        apply = functools.partial(_apply_profile, identity, changes, lock, checked, new_hash)
        user = retry_on_deadlock(apply)
        if user is not None:
            return user
    raise Conflict("The account changed during the update; try again", code="RESOURCE_IN_USE")


def _check_password_change(
    identity: Identity, changes: dict[str, Any], current: str | None
) -> tuple[str | None, str | None]:
    """Verify ``current`` and hash the new password (bcrypt) with no lock or transaction."""
    if current is None:
        return None, None
    row = db.session.execute(
        select(users.c.password_hash, users.c.email).where(users.c.id == identity.user_id)
    ).first()
    db.session.rollback()
    if row is None:
        raise Unauthorized("The token is invalid", code="INVALID_TOKEN")
    # Each check spends the login's per-account budget: no faster guessing here.
    spend_account_attempt(row.email)
    if not verify_password(current, row.password_hash):
        raise _field_error("current_password", "INCORRECT", "The current password is wrong.")
    if "password" not in changes:
        return row.password_hash, None
    try:
        check_policy(changes["password"], changes.get("email", row.email))
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None
    return row.password_hash, hash_password(changes["password"])


def _apply_profile(
    identity: Identity,
    changes: dict[str, Any],
    lock: Callable[[], User],
    checked: str | None,
    new_hash: str | None,
) -> User | None:
    """Lock the user, re-check the verified hash, apply and commit; None to check again."""
    user = lock()
    if checked is not None and user.password_hash != checked:
        db.session.rollback()
        return None
    markers = Markers()
    if new_hash is not None:
        user.password_hash = new_hash
        user.token_version += 1
        sessions.revoke_user_sessions(user.id, keep=identity.session_id)
        markers.versions.append((user.id, user.token_version))
    for name in ("email", "name"):
        if name in changes:
            setattr(user, name, changes[name])
    db.session.commit()
    publish(markers)
    return user


def admin_update(lock: Callable[[], User], admin: Identity, changes: dict[str, Any]) -> User:
    """Change a user's role or active flag (admin); the change applies at once.

    ``lock`` loads and locks the user row: the lock order is the user, then its families.
    """
    return retry_on_deadlock(lambda: _admin_update(lock(), admin, changes))


def _admin_update(user: User, admin: Identity, changes: dict[str, Any]) -> User:
    role = changes.get("role", user.role)
    active = changes.get("active", user.active)
    if role == user.role and active == user.active:
        db.session.rollback()
        return user
    if user.id == admin.user_id:
        # Guards against locking the last admin out by accident; another admin or
        # `flask create-admin` can still do it.
        db.session.rollback()
        raise Forbidden("Admins cannot change their own role or active flag")
    user.role, user.active = role, active
    user.token_version += 1
    if not active:
        sessions.revoke_user_sessions(user.id)
    db.session.commit()
    publish(Markers(versions=[(user.id, user.token_version)]))
    return user


def create_or_promote_admin(
    email: str, get_password: Callable[[], str], name: str | None = None
) -> tuple[User, bool]:
    """Promote (and reactivate) an existing account, or create an admin; commits.

    ``get_password`` is only called when the account does not exist yet. Returns the user
    and whether it was created.
    """
    user = db.session.execute(
        select(User).where(User.email == email).with_for_update()
    ).scalar_one_or_none()
    if user is not None:
        if user.role != "admin" or not user.active:
            user.role, user.active = "admin", True
            user.token_version += 1
        db.session.commit()
        publish(Markers(versions=[(user.id, user.token_version)]))
        return user, False
    password = get_password()
    check_policy(password, email)
    user = User(email=email, password_hash=hash_password(password), name=name, role="admin")
    db.session.add(user)
    db.session.commit()
    return user, True
