"""Test data that goes through the real models and commits."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import bcrypt

from bookstore.extensions import db
from bookstore.models import Author, Book, Magazine, User
from bookstore.services.seed import isbn13, issn

_seq = itertools.count(1)


class Factory:
    def _save(self, obj: Any) -> Any:
        db.session.add(obj)
        db.session.commit()
        return obj

    def author(self, **kw: Any) -> Author:
        n = next(_seq)
        return self._save(Author(**{"name": f"Author {n}", "bio": None, "birth_year": 1950, **kw}))

    def book(self, **kw: Any) -> Book:
        n = next(_seq)
        if "author_id" not in kw:
            kw["author_id"] = self.author().id
        defaults = {
            "title": f"Book {n}",
            "isbn": isbn13(n),
            "category": "fiction",
            "publication_year": 2000,
            "price": Decimal("10.00"),
            "stock": 5,
            "description": None,
        }
        return self._save(Book(**{**defaults, **kw}))

    def magazine(self, **kw: Any) -> Magazine:
        import datetime as dt

        n = next(_seq)
        defaults = {
            "title": f"Magazine {n}",
            "issn": issn(n),
            "publisher": "Acme",
            "issue_number": 1,
            "publication_date": dt.date(2024, 1, 1),
            "category": "science",
            "price": Decimal("5.00"),
            "stock": 10,
        }
        return self._save(Magazine(**{**defaults, **kw}))

    def user(self, password: str = "correct horse battery staple", **kw: Any) -> User:
        n = next(_seq)
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        defaults = {"email": f"user{n}@example.com", "password_hash": hashed, "role": "customer"}
        return self._save(User(**{**defaults, **kw}))
