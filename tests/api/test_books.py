"""Books: the catalog contract end to end through the Flask test client."""

from __future__ import annotations

import pytest

from bookstore.models import Book
from bookstore.schemas.book import book_schema, book_to_dict
from tests.helpers import assert_error

VALID = {
    "title": "Dune",
    "isbn": "978-0-441-17271-9",
    "category": "science-fiction",
    "publication_year": 1965,
    "price": "9.99",
    "stock": 3,
    "description": "Spice.",
}


@pytest.fixture
def author(make):
    return make.author(name="Frank Herbert")


def test_create_returns_201_location_and_normalised_isbn(client, admin_headers, author):
    resp = client.post("/v1/books", json={**VALID, "author_id": author.id}, headers=admin_headers)
    assert resp.status_code == 201
    data = resp.get_json()["data"]
    assert resp.headers["Location"] == f"/v1/books/{data['id']}"
    assert data["isbn"] == "9780441172719"
    assert data["price"] == "9.99"
    assert data["_links"] == {
        "self": f"/v1/books/{data['id']}",
        "author": f"/v1/authors/{author.id}",
    }
    assert data["created_at"].endswith("Z")
    assert client.get(resp.headers["Location"]).get_json()["data"] == data


def test_isbn10_is_normalised_to_isbn13(client, admin_headers, author):
    body = {**VALID, "isbn": "0-441-17271-7", "author_id": author.id}
    resp = client.post("/v1/books", json=body, headers=admin_headers)
    assert resp.status_code == 201
    assert resp.get_json()["data"]["isbn"] == "9780441172719"


def test_price_number_with_two_decimals_accepted(client, admin_headers, author):
    resp = client.post(
        "/v1/books", json={**VALID, "price": 12.5, "author_id": author.id}, headers=admin_headers
    )
    assert resp.status_code == 201
    assert resp.get_json()["data"]["price"] == "12.50"


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"isbn": "9780441172718"}, "isbn", "INVALID_CHECKSUM"),
        ({"isbn": "0441172718"}, "isbn", "INVALID_CHECKSUM"),
        ({"isbn": "not-an-isbn"}, "isbn", "INVALID_FORMAT"),
        ({"publication_year": 9999}, "publication_year", "IN_FUTURE"),
        ({"publication_year": "1965"}, "publication_year", "INVALID_TYPE"),
        ({"price": "9.999"}, "price", "INVALID_FORMAT"),
        ({"price": -1}, "price", "INVALID_FORMAT"),
        ({"price": True}, "price", "INVALID_TYPE"),
        ({"stock": -1}, "stock", "INVALID_VALUE"),
        ({"title": ""}, "title", "REQUIRED"),
        ({"title": "x" * 301}, "title", "TOO_LONG"),
        ({"title": "Du\x00ne"}, "title", "INVALID_FORMAT"),
        ({"role": "admin"}, "role", "UNKNOWN_FIELD"),
        ({"id": 5}, "id", "UNKNOWN_FIELD"),
        ({"title": None}, "title", "NULL_NOT_ALLOWED"),
        ({"author_id": 2**31}, "author_id", "INVALID_VALUE"),  # beyond the integer column
    ],
)
def test_invalid_bodies_are_400_with_field_details(
    client, admin_headers, author, change, field, code
):
    resp = client.post(
        "/v1/books", json={**VALID, "author_id": author.id, **change}, headers=admin_headers
    )
    body = assert_error(resp, 400, "VALIDATION_ERROR")
    assert {"field": field, "code": code} in [
        {"field": d["field"], "code": d["code"]} for d in body["error"]["details"]
    ]
    assert client.get("/v1/books").get_json()["pagination"]["total"] == 0


def test_missing_required_fields_are_each_named(client, admin_headers):
    resp = client.post("/v1/books", json={}, headers=admin_headers)
    fields = {d["field"] for d in assert_error(resp, 400, "VALIDATION_ERROR")["error"]["details"]}
    assert fields == {"title", "isbn", "author_id", "category", "publication_year", "price"}


def test_unknown_author_is_400_not_500(client, admin_headers):
    resp = client.post("/v1/books", json={**VALID, "author_id": 999}, headers=admin_headers)
    body = assert_error(resp, 400, "VALIDATION_ERROR")
    assert body["error"]["details"][0]["field"] == "author_id"


def test_duplicate_isbn_is_409(client, admin_headers, author, make):
    make.book(isbn="9780441172719")
    resp = client.post("/v1/books", json={**VALID, "author_id": author.id}, headers=admin_headers)
    body = assert_error(resp, 409, "DUPLICATE_RESOURCE")
    assert body["error"]["details"][0]["field"] == "isbn"


def test_get_missing_book_is_404(client):
    assert_error(client.get("/v1/books/4242"), 404, "RESOURCE_NOT_FOUND")


def test_put_replaces_and_resets_optional_fields(client, admin_headers, make):
    book = make.book(description="old", stock=9)
    body = {k: v for k, v in VALID.items() if k not in ("description", "stock")}
    resp = client.put(
        f"/v1/books/{book.id}", json={**body, "author_id": book.author_id}, headers=admin_headers
    )
    assert resp.status_code == 200
    data = resp.get_json()["data"]
    assert data["description"] is None and data["stock"] == 0 and data["title"] == "Dune"


def test_put_requires_every_required_field(client, admin_headers, make):
    book = make.book()
    resp = client.put(f"/v1/books/{book.id}", json={"title": "Only"}, headers=admin_headers)
    assert_error(resp, 400, "VALIDATION_ERROR")
    assert client.get(f"/v1/books/{book.id}").get_json()["data"]["title"] == book.title


def test_patch_merges_and_null_clears_optional(client, admin_headers, make):
    book = make.book(description="keep?", stock=4)
    resp = client.patch(
        f"/v1/books/{book.id}", json={"description": None, "price": "1.50"}, headers=admin_headers
    )
    assert resp.status_code == 200
    data = resp.get_json()["data"]
    assert data["description"] is None and data["price"] == "1.50" and data["stock"] == 4


def test_patch_accepts_merge_patch_content_type(client, admin_headers, make):
    book = make.book()
    resp = client.patch(
        f"/v1/books/{book.id}",
        data='{"stock": 7}',
        content_type="application/merge-patch+json",
        headers=admin_headers,
    )
    assert resp.status_code == 200 and resp.get_json()["data"]["stock"] == 7


def test_patch_null_on_required_field_is_400(client, admin_headers, make):
    book = make.book()
    resp = client.patch(f"/v1/books/{book.id}", json={"price": None}, headers=admin_headers)
    assert_error(resp, 400, "VALIDATION_ERROR")


def test_delete_is_204_then_404(client, admin_headers, make):
    book = make.book()
    resp = client.delete(f"/v1/books/{book.id}", headers=admin_headers)
    assert resp.status_code == 204 and resp.data == b""
    assert_error(client.get(f"/v1/books/{book.id}"), 404, "RESOURCE_NOT_FOUND")
    assert_error(
        client.delete(f"/v1/books/{book.id}", headers=admin_headers), 404, "RESOURCE_NOT_FOUND"
    )


def test_writes_need_admin(client, auth_headers, make):
    book = make.book()
    assert_error(client.post("/v1/books", json=VALID), 401, "AUTHENTICATION_REQUIRED")
    assert_error(
        client.patch(f"/v1/books/{book.id}", json={}, headers=auth_headers),
        403,
        "INSUFFICIENT_PERMISSIONS",
    )


def test_sparse_fields_and_include_on_single_book(client, make):
    book = make.book()
    data = client.get(f"/v1/books/{book.id}?fields=title,price&include=author").get_json()["data"]
    assert set(data) == {"id", "title", "price", "_links"}
    data = client.get(f"/v1/books/{book.id}?include=author").get_json()["data"]
    assert data["author"]["id"] == book.author_id


def test_unknown_sparse_field_is_400(client, make):
    book = make.book()
    assert_error(
        client.get(f"/v1/books/{book.id}?fields=title,secret"), 400, "INVALID_QUERY_PARAMETER"
    )


def test_fast_dump_matches_marshmallow_schema(app_ctx, make):
    book = make.book(description="x")
    from bookstore.extensions import db

    fresh = db.session.get(Book, book.id)
    assert book_to_dict(fresh) == book_schema.dump(
        {
            **book_to_dict(fresh),
            **{k: getattr(fresh, k) for k in ("price", "created_at", "updated_at")},
        }
    )
