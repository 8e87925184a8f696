"""Books: CRUD, filters, full-text search, sort, both pagination modes, sparse fields."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import Select, exists, func, literal_column, or_, select

from bookstore import apidoc
from bookstore.api.resource import (
    assign,
    catalog_cache_control,
    escape_like,
    is_postgres,
    locked_for_write,
    replacement,
    row_or_404,
)
from bookstore.auth import admin_required
from bookstore.extensions import db
from bookstore.http import collection_response, no_content, resource_response
from bookstore.models import Author, Book
from bookstore.pagination import ListSpec, Page, paginate, parse_fields, select_fields
from bookstore.schemas.book import (
    BookListQuery,
    BookQuery,
    BookSchema,
    book_patch_schema,
    book_schema,
)
from bookstore.services import outbox
from bookstore.validation import format_datetime, format_money

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


def book_to_dict(row: Any) -> dict[str, Any]:
    """Fast dump path, equal to ``book_schema.dump`` (a test holds them together)."""
    return {
        "id": row.id,
        "title": row.title,
        "isbn": row.isbn,
        "author_id": row.author_id,
        "category": row.category,
        "publication_year": row.publication_year,
        "price": format_money(row.price),
        "stock": row.stock,
        "description": row.description,
        "created_at": format_datetime(row.created_at),
        "updated_at": format_datetime(row.updated_at),
        "_links": {"self": f"/v1/books/{row.id}", "author": f"/v1/authors/{row.author_id}"},
    }


def _record_update(book: Book, old_stock: int) -> dict[str, Any]:
    """Flush the change and queue its events in the same transaction (none if no change)."""
    changed = db.session.is_modified(book)
    db.session.flush()
    data = book_to_dict(book)
    if changed:
        outbox.emit("book.updated", data)
        outbox.emit_low_stock_if_crossed(book, old_stock)
    return data


def _search(stmt: Select[Any], text: str) -> Select[Any]:
    if is_postgres():
        # books.search_vector is kept by a trigger from title, description and author name.
        tsquery = func.websearch_to_tsquery("english", text)
        return stmt.where(literal_column("books.search_vector").op("@@")(tsquery))
    pattern = f"%{escape_like(text)}%"
    by_author = exists().where(
        authors.c.id == books.c.author_id, authors.c.name.ilike(pattern, escape="\\")
    )
    return stmt.where(
        or_(
            books.c.title.ilike(pattern, escape="\\"),
            books.c.description.ilike(pattern, escape="\\"),
            by_author,
        )
    )


def _filtered(query: dict[str, Any]) -> Select[Any]:
    stmt = select(books)
    equal = ("category", "author_id", "publication_year", "isbn")
    for name in equal:
        if name in query:
            stmt = stmt.where(books.c[name] == query[name])
    if "year_from" in query:
        stmt = stmt.where(books.c.publication_year >= query["year_from"])
    if "year_to" in query:
        stmt = stmt.where(books.c.publication_year <= query["year_to"])
    if "min_price" in query:
        stmt = stmt.where(books.c.price >= query["min_price"])
    if "max_price" in query:
        stmt = stmt.where(books.c.price <= query["max_price"])
    if query.get("in_stock") is True:
        stmt = stmt.where(books.c.stock > 0)
    elif query.get("in_stock") is False:
        stmt = stmt.where(books.c.stock == 0)
    if "q" in query:
        stmt = _search(stmt, query["q"])
    return stmt


def embed_authors(items: list[dict[str, Any]]) -> None:
    """``include=author``: one query for the whole page, never one per book."""
    from bookstore.api.authors import author_to_dict

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
        items, page.pagination, page.links, cache_control=catalog_cache_control()
    )


@bp.get("/books")
@apidoc.query(BookListQuery)
@apidoc.response(BookSchema, many=True)
def list_books(query: dict[str, Any]):
    """List books with filters, full-text search, sort and pagination."""
    page = paginate(_filtered(query), query, BOOK_LIST, "/v1/books")
    return book_list_response(page, include_author=query.get("include") == "author")


@bp.get("/books/<int:book_id>")
@apidoc.query(BookQuery)
@apidoc.response(BookSchema)
def get_book(book_id: int, query: dict[str, Any]):
    """Get one book."""
    item = book_to_dict(row_or_404(books, book_id))
    if query.get("include") == "author":
        embed_authors([item])
    item = select_fields(item, parse_fields(query.get("fields"), BOOK_LIST))
    return resource_response(item, cache_control=catalog_cache_control())


@bp.post("/books")
@admin_required
@apidoc.body(BookSchema)
@apidoc.response(BookSchema, 201, description="Created", headers={"Location": "string"})
@apidoc.errors(409)
def create_book(body: dict[str, Any]):
    """Create a book."""
    book = Book(**body)
    db.session.add(book)
    db.session.flush()  # the id and timestamps belong in the event
    data = book_to_dict(book)
    outbox.emit("book.created", data)
    db.session.commit()
    return resource_response(data, status=201, location=data["_links"]["self"])


@bp.put("/books/<int:book_id>")
@admin_required
@apidoc.body(BookSchema)
@apidoc.response(BookSchema)
@apidoc.errors(409)
def replace_book(book_id: int, body: dict[str, Any]):
    """Replace a book (every required field must be present)."""
    book = locked_for_write(Book, book_id, book_to_dict)
    old_stock = book.stock
    assign(book, replacement(book_schema.fields, body))
    data = _record_update(book, old_stock)
    db.session.commit()
    return resource_response(data)


@bp.patch("/books/<int:book_id>")
@admin_required
@apidoc.body(book_patch_schema, merge_patch=True)
@apidoc.response(BookSchema)
@apidoc.errors(409)
def update_book(book_id: int, body: dict[str, Any]):
    """Update a book with a JSON merge patch."""
    book = locked_for_write(Book, book_id, book_to_dict)
    old_stock = book.stock
    assign(book, body)
    data = _record_update(book, old_stock)
    db.session.commit()
    return resource_response(data)


@bp.delete("/books/<int:book_id>")
@admin_required
@apidoc.response(None, 204, description="Deleted")
def delete_book(book_id: int):
    """Delete a book."""
    book = locked_for_write(Book, book_id, book_to_dict)
    outbox.emit("book.deleted", book_to_dict(book))
    db.session.delete(book)
    db.session.commit()
    return no_content()
