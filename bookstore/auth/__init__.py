"""Authentication: tokens, password hashing and the decorators that guard views."""

from bookstore.auth.decorators import admin_required, auth_required, current_identity
from bookstore.auth.tokens import Identity, create_access_token

__all__ = ["Identity", "admin_required", "auth_required", "create_access_token", "current_identity"]
