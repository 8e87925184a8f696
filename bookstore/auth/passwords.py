"""Password hashing (bcrypt) and the password policy (NIST SP 800-63B).

Policy: at least 12 characters, at most 72 bytes in UTF-8 (bcrypt ignores anything
beyond, so a longer password would silently be truncated), no composition rules, and not
a known common password, a run of repeated or sequential characters, or the account's
own email address. Passwords are NFKC-normalised before hashing so the same password
typed on different keyboards (composed or decomposed accents) matches.
"""

from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

import bcrypt
from flask import current_app

from bookstore.exceptions import fail

MIN_LENGTH = 12
MAX_BYTES = 72
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")


def normalise(password: str) -> bytes:
    return unicodedata.normalize("NFKC", password).encode("utf-8")


def _rounds() -> int:
    return current_app.config["BCRYPT_ROUNDS"]


def hash_password(password: str) -> str:
    return bcrypt.hashpw(normalise(password), bcrypt.gensalt(_rounds())).decode()


def _dummy_hash() -> bytes:
    """A hash at the configured cost, computed once per app, for unknown accounts."""
    ext = current_app.extensions
    rounds = _rounds()
    cached = ext.get("bookstore_dummy_hash")
    if cached is None or cached[0] != rounds:
        cached = ext["bookstore_dummy_hash"] = (
            rounds,
            bcrypt.hashpw(b"no account has this password", bcrypt.gensalt(rounds)),
        )
    return cached[1]


def verify_password(password: str, password_hash: str | None) -> bool:
    """Check ``password``; with no hash (unknown account) burn the same bcrypt time.

    A password over 72 bytes can never match (registration refuses them), but it still
    costs one bcrypt verification so its answer takes the same time as any other.
    """
    candidate = normalise(password)
    too_long = len(candidate) > MAX_BYTES
    if password_hash is None or too_long:
        bcrypt.checkpw(candidate[:MAX_BYTES], _dummy_hash())
        return False
    return bcrypt.checkpw(candidate, password_hash.encode())


def needs_rehash(password_hash: str) -> bool:
    """True when the stored hash was made at another cost than the configured one."""
    try:
        return int(password_hash.split("$")[2]) != _rounds()
    except (IndexError, ValueError):
        return True


# -- policy ----------------------------------------------------------------------------


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _monotonous(text: str) -> bool:
    """Repeated (``aaaa…``, ``abab…``) or sequential (``1234…``, ``zyxw…``) characters."""
    if len(set(text)) <= 3:
        return True
    pairs = list(zip(text, text[1:], strict=False))
    if text.isascii() and text.isdigit():
        # Digits wrap around: 789012..., 210987...
        steps = {(int(b) - int(a)) % 10 for a, b in pairs}
        return steps in ({1}, {9})
    steps = {ord(b) - ord(a) for a, b in pairs}
    return steps in ({1}, {-1})


def check_policy(password: str, email: str | None = None) -> None:
    """Raise a ValidationError (with a machine-readable code) if the password is refused."""
    text = unicodedata.normalize("NFKC", password)
    if "\x00" in text:
        raise fail("INVALID_FORMAT", "Must not contain NUL characters.")
    if len(text) < MIN_LENGTH:
        raise fail("TOO_SHORT", f"Must be at least {MIN_LENGTH} characters long.")
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise fail("TOO_LONG", f"Must be at most {MAX_BYTES} bytes in UTF-8.")
    folded = text.casefold()
    squeezed = "".join(folded.split())
    if folded in common_passwords() or squeezed in common_passwords():
        raise fail("COMMON_PASSWORD", "This password is too common; choose another.")
    if _monotonous(squeezed):
        raise fail("COMMON_PASSWORD", "Must not be a run of repeated or sequential characters.")
    if email:
        email = email.casefold()
        if squeezed in (email, email.split("@", 1)[0]):
            raise fail("COMMON_PASSWORD", "Must not be your email address.")
