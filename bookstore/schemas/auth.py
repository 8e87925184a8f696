from __future__ import annotations

from marshmallow import Schema, fields

from bookstore.schemas.fields import Text
from bookstore.schemas.user import Email, Password

TOKEN_MAX = 4096


class LoginSchema(Schema):
    # No format check: a malformed address simply matches no account (the generic 401).
    email = Email(required=True, check_format=False)
    password = Password(required=True)


class RefreshSchema(Schema):
    refresh_token = Text(required=True, min_length=1, max_length=TOKEN_MAX)


class LogoutSchema(Schema):
    refresh_token = Text(
        min_length=1,
        max_length=TOKEN_MAX,
        metadata={"description": "Also revoke this refresh token's session (optional)"},
    )


class TokenSchema(Schema):
    access_token = fields.String(required=True, metadata={"description": "JWT, 15 minutes"})
    refresh_token = fields.String(required=True, metadata={"description": "Single use"})
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(required=True, metadata={"example": 900})


login_schema = LoginSchema()
refresh_schema = RefreshSchema()
logout_schema = LogoutSchema()
