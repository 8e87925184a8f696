"""Signing secrets: generated, encrypted at rest, and used to sign every delivery.

The worker must sign with the secret, so it is stored retrievably: encrypted with Fernet
(AES-128-CBC + HMAC-SHA256) under a key derived from ``SECRET_KEY`` with HKDF. Changing
``SECRET_KEY`` therefore makes stored secrets unreadable: rotate every subscription's
secret after changing it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

SECRET_PREFIX = "whsec_"  # noqa: S105 - a label, not a secret
SIGNATURE_HEADER = "X-Bookstore-Signature"
_fernets: dict[str, Fernet] = {}


class SecretUnavailable(RuntimeError):
    """The stored secret cannot be decrypted (SECRET_KEY changed since it was stored)."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _fernet() -> Fernet:
    app_secret = current_app.config["SECRET_KEY"]
    fernet = _fernets.get(app_secret)
    if fernet is None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"bookstore webhook secrets"
        ).derive(app_secret.encode())
        fernet = _fernets[app_secret] = Fernet(base64.urlsafe_b64encode(key))
    return fernet


def encrypt_secret(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnavailable("the signing secret cannot be decrypted") from None


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed with the whole secret string."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"
