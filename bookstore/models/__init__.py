"""Models, one module per aggregate. Importing this package registers them all."""

from bookstore.models.author import Author
from bookstore.models.book import Book
from bookstore.models.magazine import Magazine
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
    "Magazine",
    "User",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
]
