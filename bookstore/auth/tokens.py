"""JWTs: issued with every required claim, decoded with a pinned algorithm.

Access tokens live 15 minutes and carry ``sub``, ``role``, ``jti``, ``iat``, ``exp``,
``iss``, ``aud``, ``type`` plus ``sid`` (the login session, i.e. the refresh-token family)
and ``ver`` (the user's token version when issued, see ``auth.checks``). Refresh tokens are
JWTs of ``type`` "refresh" whose hash is also stored server-side (``services.sessions``).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from flask import Flask, current_app

from bookstore.exceptions import Unauthorized

REQUIRED_CLAIMS = ["sub", "role", "jti", "iat", "exp", "iss", "aud", "type"]
# Our own claims are required too: a token without them was not issued by this service.
TYPE_CLAIMS = {"access": ["sid", "ver"], "refresh": ["sid"]}


@dataclass(frozen=True)
class Identity:
    """Who is calling, as the verified access token says."""

    user_id: int
    role: str
    jti: str
    expires_at: int
    issued_at: int = 0
    session_id: str = ""
    version: int = 0

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class JWTSettings:
    algorithm: str
    signing_key: Any
    verify_key: Any
    issuer: str
    audience: str
    access_ttl: int
    refresh_ttl: int
    session_max_age: int


def _build_settings(app: Flask) -> JWTSettings:
    cfg = app.config
    algorithm = cfg.get("JWT_ALGORITHM", "HS256")
    if algorithm == "RS256":
        # Parse the PEMs once: PyJWT would otherwise re-parse them on every call.
        signing_key: Any = serialization.load_pem_private_key(
            cfg["JWT_PRIVATE_KEY"].encode(), password=None
        )
        verify_key: Any = signing_key.public_key()
    else:
        signing_key = verify_key = cfg["SECRET_KEY"]
    return JWTSettings(
        algorithm=algorithm,
        signing_key=signing_key,
        verify_key=verify_key,
        issuer=cfg.get("JWT_ISSUER", "bookstore"),
        audience=cfg.get("JWT_AUDIENCE", "bookstore-api"),
        access_ttl=cfg.get("JWT_ACCESS_TTL", 900),
        refresh_ttl=cfg.get("JWT_REFRESH_TTL", 14 * 24 * 3600),
        session_max_age=cfg.get("JWT_SESSION_MAX_AGE", 30 * 24 * 3600),
    )


def settings() -> JWTSettings:
    """The app's token settings, built once per app (keys parsed once)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    cached = app.extensions.get("bookstore_jwt")
    if cached is None:
        cached = app.extensions["bookstore_jwt"] = _build_settings(app)
    return cached


def now_ts() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp())


def encode_token(
    user_id: int, role: str, token_type: str, ttl: int, *, ends_at: int | None = None, **extra: Any
) -> tuple[str, dict[str, Any]]:
    """Sign a token living ``ttl`` seconds, or until ``ends_at`` (the session end) if sooner."""
    s = settings()
    now = now_ts()
    claims = {
        "sub": str(user_id),
        "role": role,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + ttl if ends_at is None else min(now + ttl, ends_at),
        "iss": s.issuer,
        "aud": s.audience,
        "type": token_type,
        **extra,
    }
    return jwt.encode(claims, s.signing_key, algorithm=s.algorithm), claims


def new_session_id() -> str:
    return uuid.uuid4().hex


def create_access_token(
    user_id: int,
    role: str,
    *,
    version: int = 0,
    session_id: str | None = None,
    ends_at: int | None = None,
) -> str:
    """A 15-minute access token; ``session_id`` ties it to a refresh family (logout)."""
    extra = {"sid": session_id or new_session_id(), "ver": version}
    return encode_token(user_id, role, "access", settings().access_ttl, ends_at=ends_at, **extra)[0]


def create_refresh_token(
    user_id: int, role: str, session_id: str, ends_at: int | None = None
) -> tuple[str, dict[str, Any]]:
    """A refresh token; it never outlives ``ends_at``, the session's absolute end."""
    ttl = settings().refresh_ttl
    return encode_token(user_id, role, "refresh", ttl, ends_at=ends_at, sid=session_id)


def decode_token(token: str, token_type: str) -> dict[str, Any]:
    """Verify signature, algorithm, issuer, audience, expiry, every claim and the type."""
    s = settings()
    try:
        claims = jwt.decode(
            token,
            s.verify_key,
            algorithms=[s.algorithm],
            audience=s.audience,
            issuer=s.issuer,
            options={"require": REQUIRED_CLAIMS + TYPE_CLAIMS.get(token_type, [])},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The token has expired", code="TOKEN_EXPIRED") from None
    except jwt.PyJWTError:
        raise Unauthorized("The token is invalid", code="INVALID_TOKEN") from None
    if not _well_formed(claims, token_type):
        raise Unauthorized("The token is invalid", code="INVALID_TOKEN")
    return claims


def _well_formed(claims: dict[str, Any], token_type: str) -> bool:
    sub, ver = claims.get("sub"), claims.get("ver", 0)
    return (
        claims.get("type") == token_type
        and isinstance(sub, str)
        and sub.isascii()
        and sub.isdigit()
        and len(sub) < 19
        and isinstance(claims.get("role"), str)
        and isinstance(claims.get("jti"), str)
        and 0 < len(claims["jti"]) <= 64
        and isinstance(claims.get("sid"), str)
        and 0 < len(claims["sid"]) <= 64
        and isinstance(ver, int)
        and not isinstance(ver, bool)
    )


# Access tokens this process has verified, per app, by their exact text (bounded).
VERIFIED_MAX = 4096


def identity_from_access_token(token: str) -> Identity:
    """The identity a valid access token names; 401 for an invalid or expired one.

    A client sends the same token with every request for its 15 minutes, and verifying it
    (base64, JSON, an HMAC or RSA signature and every claim, in PyJWT) costs about 45 us a
    time, as much as the rest of a cached read. A token whose exact text verified once is
    kept, and only its expiry, the one thing that changes for the same text and keys, is
    checked again at each use. Invalid tokens are never kept. Revocation is not part of
    this: it is checked where the identity is used (``auth.checks``).
    """
    verified = _verified_tokens()
    identity = verified.get(token)
    if identity is None:
        identity = _verify_access_token(token)
        if len(verified) >= VERIFIED_MAX:
            verified.clear()  # crude, but bounded and safe with concurrent threads
        verified[token] = identity
    elif identity.expires_at <= time.time():  # as PyJWT: expired from ``exp`` on
        raise Unauthorized("The token has expired", code="TOKEN_EXPIRED")
    return identity


def _verified_tokens() -> dict[str, Identity]:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return app.extensions.setdefault("bookstore_verified_tokens", {})  # type: ignore[no-any-return]


def _verify_access_token(token: str) -> Identity:
    claims = decode_token(token, "access")
    return Identity(
        user_id=int(claims["sub"]),
        role=claims["role"],
        jti=claims["jti"],
        expires_at=int(claims["exp"]),
        issued_at=int(claims["iat"]),
        session_id=claims["sid"],
        version=claims["ver"],
    )
