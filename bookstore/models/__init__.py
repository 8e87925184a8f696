"""Models, one module per aggregate. Importing this package registers them all."""

from bookstore.models.author import Author
from bookstore.models.book import Book
from bookstore.models.idempotency import IdempotencyKey
from bookstore.models.magazine import Magazine
from bookstore.models.order import Order, OrderItem
from bookstore.models.token import RefreshFamily, RefreshToken, RevokedToken
from bookstore.models.user import User
from bookstore.models.webhook import (
    DeliveryAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

__all__ = [
    "Author",
    "Book",
    "DeliveryAttempt",
    "IdempotencyKey",
    "Magazine",
    "Order",
    "OrderItem",
    "RefreshFamily",
    "RefreshToken",
    "RevokedToken",
    "User",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
]
