"""Authors: CRUD, and the books of one author."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import exists, select

from bookstore import openapi
from bookstore.api.books import BOOK_LIST, book_list_response, books
from bookstore.api.resource import (
    CREATED_HEADERS,
    catalog_item,
    catalog_list,
    create_resource,
    delete_resource,
    ilike_any,
    replace_resource,
    row_or_404,
    update_resource,
    where_between,
)
from bookstore.auth import admin_required
from bookstore.exceptions import NotFound
from bookstore.extensions import db
from bookstore.models import Author
from bookstore.pagination import ListSpec, paginate
from bookstore.schemas.author import (
    AuthorListQuery,
    AuthorSchema,
    author_patch_schema,
    author_schema,
    author_to_dict,
)
from bookstore.schemas.book import AuthorBooksQuery, BookSchema
from bookstore.services.idempotency import idempotent

bp = Blueprint("authors", __name__)
authors = Author.__table__
AUTHOR_FIELDS = tuple(author_schema.dump_fields)
AUTHOR_LIST = ListSpec(
    sortable={"id": authors.c.id, "name": authors.c.name, "created_at": authors.c.created_at},
    fields=AUTHOR_FIELDS,
)


def _filtered(query: dict[str, Any]):
    stmt = select(authors)
    if "name" in query:
        stmt = stmt.where(ilike_any(query["name"], authors.c.name))
    stmt = where_between(stmt, authors.c.birth_year, query, "born_from", "born_to")
    if "q" in query:
        stmt = stmt.where(ilike_any(query["q"], authors.c.name, authors.c.bio))
    return stmt


@bp.get("/authors")
@openapi.query(AuthorListQuery)
@openapi.response(AuthorSchema, many=True)
def list_authors(query: dict[str, Any]):
    """List authors."""
    page = paginate(_filtered(query), query, AUTHOR_LIST, "/v1/authors")
    return catalog_list(page, author_to_dict)


@bp.get("/authors/<int:author_id>")
@openapi.response(AuthorSchema)
def get_author(author_id: int):
    """Get one author."""
    return catalog_item(author_to_dict(row_or_404(authors, author_id)))


@bp.get("/authors/<int:author_id>/books")
@openapi.query(AuthorBooksQuery)
@openapi.response(BookSchema, many=True)
def list_author_books(author_id: int, query: dict[str, Any]):
    """List the books of one author, with sort and category filter.

    The `stock` it shows may be up to `CACHE_LIST_STOCK_MAX_AGE` seconds (5 by default)
    old, as on `GET /v1/books`.
    """
    if not db.session.execute(select(exists().where(authors.c.id == author_id))).scalar():
        raise NotFound()
    stmt = select(books).where(books.c.author_id == author_id)
    if "category" in query:
        stmt = stmt.where(books.c.category == query["category"])
    page = paginate(stmt, query, BOOK_LIST, f"/v1/authors/{author_id}/books")
    return book_list_response(page, include_author=False)


@bp.post("/authors")
@admin_required
@openapi.body(AuthorSchema)
@idempotent()
@openapi.response(AuthorSchema, 201, description="Created", headers=CREATED_HEADERS)
@openapi.errors(409)
def create_author(body: dict[str, Any]):
    """Create an author."""
    return create_resource(Author, body, author_to_dict)


@bp.put("/authors/<int:author_id>")
@admin_required
@openapi.body(AuthorSchema)
@openapi.response(AuthorSchema)
def replace_author(author_id: int, body: dict[str, Any]):
    """Replace an author (every required field must be present)."""
    return replace_resource(Author, author_id, body, author_schema.fields, author_to_dict)


@bp.patch("/authors/<int:author_id>")
@admin_required
@openapi.body(author_patch_schema, merge_patch=True)
@openapi.response(AuthorSchema)
def update_author(author_id: int, body: dict[str, Any]):
    """Update an author with a JSON merge patch."""
    return update_resource(Author, author_id, body, author_to_dict)


@bp.delete("/authors/<int:author_id>")
@admin_required
@openapi.response(None, 204, description="Deleted")
@openapi.errors(409)
def delete_author(author_id: int):
    """Delete an author; 409 RESOURCE_IN_USE while they have books."""
    return delete_resource(Author, author_id, author_to_dict)
