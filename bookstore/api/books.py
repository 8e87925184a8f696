"""Books: CRUD, filters, full-text search, sort, both pagination modes, sparse fields."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import Select, bindparam, exists, func, literal_column, or_, select

from bookstore import openapi
from bookstore.api.resource import (
    CREATED_HEADERS,
    catalog_item,
    create_resource,
    delete_resource,
    ilike_any,
    is_postgres,
    replace_resource,
    row_or_404,
    stock_list_cache_control,
    update_resource,
    where_between,
    where_equal,
    where_in_stock,
)
from bookstore.auth import admin_required
from bookstore.extensions import db
from bookstore.models import Author, Book
from bookstore.pagination import ListSpec, Page, paginate, parse_fields, select_fields
from bookstore.schemas.author import author_to_dict
from bookstore.schemas.book import (
    BookListQuery,
    BookQuery,
    BookSchema,
    book_patch_schema,
    book_schema,
    book_to_dict,
)
from bookstore.services import outbox
from bookstore.services.idempotency import idempotent
from bookstore.web.responses import collection_response

bp = Blueprint("books", __name__)
books = Book.__table__
authors = Author.__table__
BOOK_LIST = ListSpec(
    sortable={
        "id": books.c.id,
        "title": books.c.title,
        "price": books.c.price,
        "publication_year": books.c.publication_year,
        "created_at": books.c.created_at,
    },
    fields=tuple(book_schema.dump_fields),
)


class _BookEvents:
    """book.created / updated / deleted / low_stock, written to the outbox with the change."""

    def created(self, data: dict[str, Any]) -> None:
        outbox.emit("book.created", data)

    def updated(self, obj: Any, before: dict[str, Any], after: dict[str, Any]) -> None:
        outbox.emit("book.updated", after)
        outbox.emit_low_stock_if_crossed(obj, before["stock"])

    def deleted(self, data: dict[str, Any]) -> None:
        outbox.emit("book.deleted", data)


BOOK_EVENTS = _BookEvents()


def _search(stmt: Select[Any], text: str) -> Select[Any]:
    if is_postgres():
        # books.search_vector is kept by a trigger from title, description and author name.
        tsquery = func.websearch_to_tsquery(literal_column("'english'"), bindparam("q", text))
        return stmt.where(literal_column("books.search_vector").op("@@")(tsquery))
    by_author = exists().where(authors.c.id == books.c.author_id, ilike_any(text, authors.c.name))
    return stmt.where(or_(ilike_any(text, books.c.title, books.c.description), by_author))


def _filtered(query: dict[str, Any]) -> Select[Any]:
    stmt = where_equal(
        select(books), books, query, ("category", "author_id", "publication_year", "isbn")
    )
    stmt = where_between(stmt, books.c.publication_year, query, "year_from", "year_to")
    stmt = where_between(stmt, books.c.price, query, "min_price", "max_price")
    stmt = where_in_stock(stmt, books.c.stock, query.get("in_stock"))
    if "q" in query:
        stmt = _search(stmt, query["q"])
    return stmt


def embed_authors(items: list[dict[str, Any]]) -> None:
    """``include=author``: one query for the whole page, never one per book."""
    ids = {item["author_id"] for item in items}
    if not ids:
        return
    rows = db.session.execute(select(authors).where(authors.c.id.in_(ids)))
    by_id = {row.id: author_to_dict(row) for row in rows}
    for item in items:
        item["author"] = by_id.get(item["author_id"])


def book_list_response(page: Page, *, include_author: bool):
    items = [book_to_dict(row) for row in page.rows]
    if include_author:
        embed_authors(items)
    items = [select_fields(item, page.fields) for item in items]
    return collection_response(
        items, page.pagination, page.links, cache_control=stock_list_cache_control()
    )


@bp.get("/books")
@openapi.query(BookListQuery)
@openapi.response(BookSchema, many=True)
def list_books(query: dict[str, Any]):
    """List books with filters, full-text search, sort and pagination.

    The `stock` a list shows, and which books `in_stock` selects, may be up to
    `CACHE_LIST_STOCK_MAX_AGE` seconds (5 by default) old, the list's `max-age`; every
    other change of a book shows at once. The book itself is always exact: read it for
    the stock to act on.
    """
    page = paginate(_filtered(query), query, BOOK_LIST, "/v1/books")
    return book_list_response(page, include_author=query.get("include") == "author")


@bp.get("/books/<int:book_id>")
@openapi.query(BookQuery)
@openapi.response(BookSchema)
def get_book(book_id: int, query: dict[str, Any]):
    """Get one book.

    Always exact, right after any write (orders, cancellations and expiry included),
    whichever worker or instance answers.
    """
    item = book_to_dict(row_or_404(books, book_id))
    if query.get("include") == "author":
        embed_authors([item])
    return catalog_item(item, parse_fields(query.get("fields"), BOOK_LIST))


@bp.post("/books")
@admin_required
@openapi.body(BookSchema)
@idempotent()
@openapi.response(BookSchema, 201, description="Created", headers=CREATED_HEADERS)
@openapi.errors(409)
def create_book(body: dict[str, Any]):
    """Create a book."""
    return create_resource(Book, body, book_to_dict, BOOK_EVENTS)


@bp.put("/books/<int:book_id>")
@admin_required
@openapi.body(BookSchema)
@openapi.response(BookSchema)
@openapi.errors(409)
def replace_book(book_id: int, body: dict[str, Any]):
    """Replace a book (every required field must be present)."""
    return replace_resource(Book, book_id, body, book_schema.fields, book_to_dict, BOOK_EVENTS)


@bp.patch("/books/<int:book_id>")
@admin_required
@openapi.body(book_patch_schema, merge_patch=True)
@openapi.response(BookSchema)
@openapi.errors(409)
def update_book(book_id: int, body: dict[str, Any]):
    """Update a book with a JSON merge patch."""
    return update_resource(Book, book_id, body, book_to_dict, BOOK_EVENTS)


@bp.delete("/books/<int:book_id>")
@admin_required
@openapi.response(None, 204, description="Deleted")
def delete_book(book_id: int):
    """Delete a book."""
    return delete_resource(Book, book_id, book_to_dict, BOOK_EVENTS)
