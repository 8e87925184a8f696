"""JWT access tokens: issued with every required claim, decoded with a pinned algorithm."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from flask import current_app

from bookstore.errors import Unauthorized

REQUIRED_CLAIMS = ["sub", "role", "jti", "iat", "exp", "iss", "aud", "type"]


@dataclass(frozen=True)
class Identity:
    """Who is calling, as the verified access token says."""

    user_id: int
    role: str
    jti: str
    expires_at: int

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _settings() -> dict[str, Any]:
    cfg = current_app.config
    return {
        "algorithm": cfg.get("JWT_ALGORITHM", "HS256"),
        "signing_key": cfg.get("JWT_PRIVATE_KEY") or cfg["SECRET_KEY"],
        "verify_key": cfg.get("JWT_PUBLIC_KEY") or cfg["SECRET_KEY"],
        "issuer": cfg.get("JWT_ISSUER", "bookstore"),
        "audience": cfg.get("JWT_AUDIENCE", "bookstore-api"),
        "access_ttl": cfg.get("JWT_ACCESS_TTL", 900),
    }


def encode_token(
    user_id: int, role: str, token_type: str, ttl: int, **extra: Any
) -> tuple[str, dict]:
    s = _settings()
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims = {
        "sub": str(user_id),
        "role": role,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + ttl,
        "iss": s["issuer"],
        "aud": s["audience"],
        "type": token_type,
        **extra,
    }
    return jwt.encode(claims, s["signing_key"], algorithm=s["algorithm"]), claims


def create_access_token(user_id: int, role: str) -> str:
    return encode_token(user_id, role, "access", _settings()["access_ttl"])[0]


def decode_token(token: str, token_type: str) -> dict[str, Any]:
    """Verify signature, algorithm, issuer, audience, expiry, every claim and the type."""
    s = _settings()
    try:
        claims = jwt.decode(
            token,
            s["verify_key"],
            algorithms=[s["algorithm"]],
            audience=s["audience"],
            issuer=s["issuer"],
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The token has expired", code="TOKEN_EXPIRED") from None
    except jwt.PyJWTError:
        raise Unauthorized("The token is invalid", code="INVALID_TOKEN") from None
    if claims.get("type") != token_type or not str(claims.get("sub", "")).isdigit():
        raise Unauthorized("The token is invalid", code="INVALID_TOKEN")
    return claims


def identity_from_access_token(token: str) -> Identity:
    claims = decode_token(token, "access")
    return Identity(int(claims["sub"]), str(claims["role"]), str(claims["jti"]), int(claims["exp"]))
