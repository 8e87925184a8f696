"""Catalog writes are admin-only: 401 for anonymous callers, 403 for customers."""

from __future__ import annotations

import pytest

from bookstore.auth import create_access_token
from tests.sessions import assert_error, bearer

WRITES = [
    ("post", "/v1/books"),
    ("put", "/v1/books/{book}"),
    ("patch", "/v1/books/{book}"),
    ("delete", "/v1/books/{book}"),
    ("post", "/v1/authors"),
    ("put", "/v1/authors/{author}"),
    ("patch", "/v1/authors/{author}"),
    ("delete", "/v1/authors/{author}"),
]


@pytest.fixture
def paths(make) -> dict[str, int]:
    book = make.book()
    return {"book": book.id, "author": make.author().id}


def _call(client, method: str, path: str, headers: dict[str, str] | None = None):
    return getattr(client, method)(path, headers=headers or {}, json={"title": "x"})


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_anonymous_catalog_writes_are_401(client, paths, method, path):
    response = _call(client, method, path.format(**paths))
    assert_error(response, 401, "AUTHENTICATION_REQUIRED")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="bookstore"'


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_customer_catalog_writes_are_403(client, paths, auth_headers, method, path):
    assert_error(
        _call(client, method, path.format(**paths), auth_headers), 403, "INSUFFICIENT_PERMISSIONS"
    )


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_catalog_writes_with_a_bad_token_are_401(client, paths, method, path):
    headers = {"Authorization": "Bearer not.a.token"}
    assert_error(_call(client, method, path.format(**paths), headers), 401, "INVALID_TOKEN")


def test_admin_catalog_writes_go_through(client, make, admin_headers):
    author = client.post("/v1/authors", headers=admin_headers, json={"name": "Frank Herbert"})
    assert author.status_code == 201
    author_id = author.get_json()["data"]["id"]
    book = {
        "title": "Dune",
        "isbn": "9780441172719",
        "author_id": author_id,
        "category": "science-fiction",
        "publication_year": 1965,
        "price": "9.99",
    }
    created = client.post("/v1/books", headers=admin_headers, json=book)
    assert created.status_code == 201
    book_path = created.headers["Location"]
    assert client.patch(book_path, headers=admin_headers, json={"stock": 3}).status_code == 200
    assert client.put(book_path, headers=admin_headers, json=book).status_code == 200
    assert client.delete(book_path, headers=admin_headers).status_code == 204
    author_path = f"/v1/authors/{author_id}"
    renamed = client.patch(author_path, headers=admin_headers, json={"bio": "Author of Dune"})
    assert renamed.status_code == 200
    assert client.put(author_path, headers=admin_headers, json={"name": "F. H."}).status_code == 200
    assert client.delete(author_path, headers=admin_headers).status_code == 204


def test_a_demoted_admin_cannot_write_the_catalog(client, make):
    demoted, other = make.user(role="admin"), make.user(role="admin")
    demoted_headers = bearer(create_access_token(demoted.id, "admin"))
    assert (
        client.post("/v1/authors", headers=demoted_headers, json={"name": "A"}).status_code == 201
    )
    other_headers = bearer(create_access_token(other.id, "admin"))
    response = client.patch(
        f"/v1/users/{demoted.id}", headers=other_headers, json={"role": "customer"}
    )
    assert response.status_code == 200
    # At once, not when the token expires.
    response = client.post("/v1/authors", headers=demoted_headers, json={"name": "B"})
    assert_error(response, 401, "INVALID_TOKEN")
