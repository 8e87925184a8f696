"""Authors: CRUD, and the books of one author."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import exists, or_, select

from bookstore import apidoc
from bookstore.api.books import BOOK_LIST, book_list_response, books
from bookstore.api.resource import (
    assign,
    catalog_cache_control,
    escape_like,
    locked_for_write,
    replacement,
    row_or_404,
)
from bookstore.auth import admin_required
from bookstore.errors import NotFound
from bookstore.extensions import db
from bookstore.http import collection_response, no_content, resource_response
from bookstore.models import Author
from bookstore.pagination import ListSpec, paginate, select_fields
from bookstore.schemas.author import (
    AuthorListQuery,
    AuthorSchema,
    author_patch_schema,
    author_schema,
)
from bookstore.schemas.book import AuthorBooksQuery, BookSchema
from bookstore.validation import format_datetime

bp = Blueprint("authors", __name__)
authors = Author.__table__
AUTHOR_FIELDS = tuple(author_schema.dump_fields)
AUTHOR_LIST = ListSpec(
    sortable={"id": authors.c.id, "name": authors.c.name, "created_at": authors.c.created_at},
    fields=AUTHOR_FIELDS,
)


def author_to_dict(row: Any) -> dict[str, Any]:
    """Fast dump path, equal to ``author_schema.dump`` (a test holds them together)."""
    return {
        "id": row.id,
        "name": row.name,
        "bio": row.bio,
        "birth_year": row.birth_year,
        "created_at": format_datetime(row.created_at),
        "updated_at": format_datetime(row.updated_at),
        "_links": {"self": f"/v1/authors/{row.id}"},
    }


def _filtered(query: dict[str, Any]):
    stmt = select(authors)
    if "name" in query:
        stmt = stmt.where(authors.c.name.ilike(f"%{escape_like(query['name'])}%", escape="\\"))
    if "born_from" in query:
        stmt = stmt.where(authors.c.birth_year >= query["born_from"])
    if "born_to" in query:
        stmt = stmt.where(authors.c.birth_year <= query["born_to"])
    if "q" in query:
        pattern = f"%{escape_like(query['q'])}%"
        stmt = stmt.where(
            or_(
                authors.c.name.ilike(pattern, escape="\\"),
                authors.c.bio.ilike(pattern, escape="\\"),
            )
        )
    return stmt


@bp.get("/authors")
@apidoc.query(AuthorListQuery)
@apidoc.response(AuthorSchema, many=True)
def list_authors(query: dict[str, Any]):
    """List authors."""
    page = paginate(_filtered(query), query, AUTHOR_LIST, "/v1/authors")
    items = [select_fields(author_to_dict(row), page.fields) for row in page.rows]
    return collection_response(
        items, page.pagination, page.links, cache_control=catalog_cache_control()
    )


@bp.get("/authors/<int:author_id>")
@apidoc.response(AuthorSchema)
def get_author(author_id: int):
    """Get one author."""
    row = row_or_404(authors, author_id)
    return resource_response(author_to_dict(row), cache_control=catalog_cache_control())


@bp.get("/authors/<int:author_id>/books")
@apidoc.query(AuthorBooksQuery)
@apidoc.response(BookSchema, many=True)
def list_author_books(author_id: int, query: dict[str, Any]):
    """List the books of one author, with sort and category filter."""
    if not db.session.execute(select(exists().where(authors.c.id == author_id))).scalar():
        raise NotFound()
    stmt = select(books).where(books.c.author_id == author_id)
    if "category" in query:
        stmt = stmt.where(books.c.category == query["category"])
    page = paginate(stmt, query, BOOK_LIST, f"/v1/authors/{author_id}/books")
    return book_list_response(page, include_author=False)


@bp.post("/authors")
@admin_required
@apidoc.body(AuthorSchema)
@apidoc.response(AuthorSchema, 201, description="Created", headers={"Location": "string"})
@apidoc.errors(409)
def create_author(body: dict[str, Any]):
    """Create an author."""
    author = Author(**body)
    db.session.add(author)
    db.session.commit()
    data = author_to_dict(author)
    return resource_response(data, status=201, location=data["_links"]["self"])


@bp.put("/authors/<int:author_id>")
@admin_required
@apidoc.body(AuthorSchema)
@apidoc.response(AuthorSchema)
def replace_author(author_id: int, body: dict[str, Any]):
    """Replace an author (every required field must be present)."""
    author = locked_for_write(Author, author_id, author_to_dict)
    assign(author, replacement(author_schema.fields, body))
    db.session.commit()
    return resource_response(author_to_dict(author))


@bp.patch("/authors/<int:author_id>")
@admin_required
@apidoc.body(author_patch_schema, merge_patch=True)
@apidoc.response(AuthorSchema)
def update_author(author_id: int, body: dict[str, Any]):
    """Update an author with a JSON merge patch."""
    author = locked_for_write(Author, author_id, author_to_dict)
    assign(author, body)
    db.session.commit()
    return resource_response(author_to_dict(author))


@bp.delete("/authors/<int:author_id>")
@admin_required
@apidoc.response(None, 204, description="Deleted")
@apidoc.errors(409)
def delete_author(author_id: int):
    """Delete an author; 409 RESOURCE_IN_USE while they have books."""
    author = locked_for_write(Author, author_id, author_to_dict)
    db.session.delete(author)
    db.session.commit()
    return no_content()
