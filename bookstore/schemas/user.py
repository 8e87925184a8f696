from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from bookstore.auth.passwords import MAX_BYTES, MIN_LENGTH, check_policy
from bookstore.exceptions import fail
from bookstore.models.user import ROLES
from bookstore.schemas.common import ListQuery, ResourceLinks
from bookstore.schemas.fields import Text, UTCDateTime
from bookstore.schemas.formatting import format_datetime

# A bound on what login reads at all; new passwords get the policy's 72-byte limit.
PASSWORD_INPUT_MAX = 1024
_email_format = validate.Email(error="Not a valid email address.")


class Email(Text):
    """An email address, trimmed and lowercased (so uniqueness ignores case)."""

    def __init__(self, *, check_format: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault("example", "reader@example.com")
        if check_format:
            kwargs["metadata"].setdefault("format", "email")
        super().__init__(max_length=254, min_length=1, **kwargs)
        self.check_format = check_format

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        email = super()._deserialize(value, attr, data, **kwargs).lower()
        if self.check_format:
            try:
                _email_format(email)
            except ValidationError:
                raise fail("INVALID_FORMAT", "Not a valid email address.") from None
        return email


class Password(fields.String):
    """A password: never stripped or echoed; ``policy=True`` applies the password policy."""

    def __init__(self, *, policy: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("load_only", True)
        metadata = kwargs.setdefault("metadata", {})
        metadata.setdefault("format", "password")
        if policy:
            metadata.setdefault("minLength", MIN_LENGTH)
            metadata.setdefault("example", "plum-lantern-river-42")
            metadata.setdefault(
                "description",
                f"At least {MIN_LENGTH} characters and at most {MAX_BYTES} bytes in UTF-8; "
                "common passwords are refused. No composition rules.",
            )
        super().__init__(**kwargs)
        self.policy = policy

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if self.policy:
            check_policy(text)
        elif "\x00" in text:
            raise fail("INVALID_FORMAT", "Must not contain NUL characters.")
        elif len(text) > PASSWORD_INPUT_MAX:
            raise fail("TOO_LONG", f"Longer than {PASSWORD_INPUT_MAX} characters.")
        return text


class StrictBoolean(fields.Boolean):
    """JSON true or false only (marshmallow would also take 1, "yes", "on" ...)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class UserSchema(Schema):
    """An account. The password hash is never part of any representation."""

    id = fields.Integer(dump_only=True)
    email = Email(dump_only=True)
    name = Text(max_length=200, allow_none=True, dump_only=True)
    role = fields.String(dump_only=True, metadata={"enum": list(ROLES)})
    active = fields.Boolean(dump_only=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)
    _links = fields.Nested(ResourceLinks, dump_only=True, data_key="_links")


class RegisterSchema(Schema):
    email = Email(required=True)
    password = Password(required=True, policy=True)
    name = Text(max_length=200, allow_none=True, load_default=None)

    @validates_schema
    def _not_the_email(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "email" in data and "password" in data:
            try:
                check_policy(data["password"], data["email"])
            except ValidationError as exc:
                raise ValidationError(exc.messages, field_name="password") from None


class ProfilePatchSchema(Schema):
    """Only the fields sent change. ``email`` and ``password`` need ``current_password``."""

    email = Email()
    name = Text(max_length=200, allow_none=True)
    password = Password(policy=True, metadata={"description": "The new password"})
    current_password = Password(metadata={"description": "Required with email or password"})


class AdminUserPatchSchema(Schema):
    """Role and active flag; the change applies to the user's next request."""

    role = fields.String(validate=validate.OneOf(ROLES))
    active = StrictBoolean()


class UserListQuery(ListQuery):
    role = fields.String(validate=validate.OneOf(ROLES))
    active = fields.Boolean()
    email = Text(
        max_length=254,
        metadata={"description": "Case-insensitive substring of the email address"},
    )


user_schema = UserSchema()
register_schema = RegisterSchema()
profile_patch_schema = ProfilePatchSchema()
admin_user_patch_schema = AdminUserPatchSchema()


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
