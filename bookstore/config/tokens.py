"""SECRET_KEY and the JWT settings: what signs and checks every token.

Production refuses a missing, placeholder or weak SECRET_KEY; RS256 needs a PEM key pair
that loads and matches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bookstore.config.parsing import ConfigError, read_int, read_str

DEV_SECRET = "dev-secret-do-not-use-in-production-0123456789"  # noqa: S105
# Words of documented and sample secrets: a key containing one was written by a person.
PLACEHOLDER_WORDS = ("change-me", "change_me", "changeme", "placeholder", "secret", "example")
SECRET_MIN_LENGTH = 32
SECRET_MIN_DISTINCT = 10
GENERATE_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'  # noqa: S105


def secret_key(env: dict[str, str], production: bool) -> str:
    """SECRET_KEY, checked in production; the development default elsewhere when unset."""
    secret = env.get("SECRET_KEY", "").strip()
    if production:
        _check_production_secret(secret)
    return secret or DEV_SECRET


def _check_production_secret(secret: str) -> None:
    """Refuse a missing, placeholder or low-entropy SECRET_KEY: it signs every token."""
    lowered = secret.lower()
    if not secret:
        problem = "must be set"
    elif any(word in lowered for word in PLACEHOLDER_WORDS):
        problem = "is a placeholder"
    elif len(secret) < SECRET_MIN_LENGTH or len(set(secret)) < SECRET_MIN_DISTINCT:
        problem = f"is too weak (needs {SECRET_MIN_LENGTH}+ random characters)"
    else:
        return
    raise ConfigError(
        f"SECRET_KEY {problem} when APP_ENV=production; generate one with: {GENERATE_SECRET}"
    )


def jwt_config(env: dict[str, str], secret: str) -> dict[str, Any]:
    """JWT settings: HS256 with SECRET_KEY, or RS256 with a PEM key pair (text or file)."""
    algorithm = read_str(env, "JWT_ALGORITHM", "HS256").upper()
    private_pem = public_pem = None
    if algorithm == "HS256":
        try:
            # PyJWT refuses secrets that look like PEM, SSH or JWK keys; fail at start-up
            # rather than on the first login.
            jwt.algorithms.HMACAlgorithm(jwt.algorithms.HMACAlgorithm.SHA256).prepare_key(secret)
        except jwt.InvalidKeyError as exc:
            raise ConfigError(f"SECRET_KEY cannot be used as an HS256 secret: {exc}") from None
    elif algorithm == "RS256":
        private_pem, public_pem = _rsa_pair(env)
    else:
        raise ConfigError("JWT_ALGORITHM must be HS256 or RS256")
    return {
        "JWT_ALGORITHM": algorithm,
        "JWT_PRIVATE_KEY": private_pem,
        "JWT_PUBLIC_KEY": public_pem,
        "JWT_ISSUER": read_str(env, "JWT_ISSUER", "bookstore"),
        "JWT_AUDIENCE": read_str(env, "JWT_AUDIENCE", "bookstore-api"),
        "JWT_ACCESS_TTL": read_int(env, "JWT_ACCESS_TTL", 900, minimum=60),
        "JWT_REFRESH_TTL": read_int(env, "JWT_REFRESH_TTL", 14 * 24 * 3600, minimum=300),
        # Absolute session lifetime: refreshing never extends a login past this.
        "JWT_SESSION_MAX_AGE": read_int(env, "JWT_SESSION_MAX_AGE", 30 * 24 * 3600, minimum=300),
    }


def _pem(env: dict[str, str], name: str) -> bytes | None:
    """A PEM given inline (``\\n`` escapes allowed) or as a path to a file holding it."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if raw.startswith("-----BEGIN"):
        return raw.replace("\\n", "\n").encode()
    try:
        return Path(raw).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read the key file {raw!r}: {exc.strerror}") from None


def _rsa_pair(env: dict[str, str]) -> tuple[str, str]:
    private_raw = _pem(env, "JWT_PRIVATE_KEY")
    if private_raw is None:
        raise ConfigError("JWT_ALGORITHM=RS256 needs JWT_PRIVATE_KEY (PEM text or a file path)")
    try:
        private_key = serialization.load_pem_private_key(private_raw, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"JWT_PRIVATE_KEY is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(private_key, rsa.RSAPrivateKey) or private_key.key_size < 2048:
        raise ConfigError("JWT_PRIVATE_KEY must be an RSA key of at least 2048 bits")
    derived = private_key.public_key()
    public_raw = _pem(env, "JWT_PUBLIC_KEY")
    if public_raw is not None:
        try:
            public_key = serialization.load_pem_public_key(public_raw)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"JWT_PUBLIC_KEY is not a PEM public key: {exc}") from None
        if (
            not isinstance(public_key, rsa.RSAPublicKey)
            or public_key.public_numbers() != derived.public_numbers()
        ):
            raise ConfigError("JWT_PUBLIC_KEY does not match JWT_PRIVATE_KEY")
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = derived.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem.decode(), public_pem.decode()
