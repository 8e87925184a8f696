"""Models, one module per aggregate. Importing this package registers them all."""

from bookstore.models.author import Author
from bookstore.models.book import Book
from bookstore.models.magazine import Magazine
from bookstore.models.token import RefreshToken, RevokedToken
from bookstore.models.user import User

__all__ = ["Author", "Book", "Magazine", "RefreshToken", "RevokedToken", "User"]
