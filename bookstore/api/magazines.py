"""Magazines: CRUD, filters, substring search, sort, both pagination modes, sparse fields."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import Select, select

from bookstore import apidoc
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
    where_equal,
    where_in_stock,
)
from bookstore.auth import admin_required
from bookstore.models import Magazine
from bookstore.pagination import ListSpec, paginate, parse_fields
from bookstore.schemas.common import FieldsQuery
from bookstore.schemas.magazine import (
    MagazineListQuery,
    MagazineSchema,
    magazine_patch_schema,
    magazine_schema,
)
from bookstore.services.idempotency import idempotent
from bookstore.validation import format_datetime, format_money

bp = Blueprint("magazines", __name__)
magazines = Magazine.__table__
# Only columns with an index ending in id (see the model): keyset pages stay index walks.
MAGAZINE_LIST = ListSpec(
    sortable={
        "id": magazines.c.id,
        "title": magazines.c.title,
        "price": magazines.c.price,
        "publication_date": magazines.c.publication_date,
    },
    fields=tuple(magazine_schema.dump_fields),
)


def magazine_to_dict(row: Any) -> dict[str, Any]:
    """Fast dump path, equal to ``magazine_schema.dump`` (a test holds them together)."""
    return {
        "id": row.id,
        "title": row.title,
        "issn": row.issn,
        "publisher": row.publisher,
        "issue_number": row.issue_number,
        "publication_date": row.publication_date.isoformat(),
        "category": row.category,
        "price": format_money(row.price),
        "stock": row.stock,
        "created_at": format_datetime(row.created_at),
        "updated_at": format_datetime(row.updated_at),
        "_links": {"self": f"/v1/magazines/{row.id}"},
    }


def _filtered(query: dict[str, Any]) -> Select[Any]:
    stmt = where_equal(select(magazines), magazines, query, ("category", "issn", "publisher"))
    stmt = where_between(stmt, magazines.c.price, query, "min_price", "max_price")
    stmt = where_between(stmt, magazines.c.publication_date, query, "date_from", "date_to")
    stmt = where_in_stock(stmt, magazines.c.stock, query.get("in_stock"))
    if "q" in query:
        stmt = stmt.where(ilike_any(query["q"], magazines.c.title, magazines.c.publisher))
    return stmt


@bp.get("/magazines")
@apidoc.query(MagazineListQuery)
@apidoc.response(MagazineSchema, many=True)
def list_magazines(query: dict[str, Any]):
    """List magazine issues with filters, search, sort and pagination.

    Sortable by `id`, `title`, `price` and `publication_date` (each backed by an index,
    so keyset cursors stay cheap at any depth). `q` is a case-insensitive substring match
    over title and publisher; `publisher` and `category` match exactly.
    """
    page = paginate(_filtered(query), query, MAGAZINE_LIST, "/v1/magazines", from_query=True)
    return catalog_list(page, magazine_to_dict)


@bp.get("/magazines/<int:magazine_id>")
@apidoc.query(FieldsQuery)
@apidoc.response(MagazineSchema)
def get_magazine(magazine_id: int, query: dict[str, Any]):
    """Get one magazine issue."""
    item = magazine_to_dict(row_or_404(magazines, magazine_id))
    return catalog_item(item, parse_fields(query.get("fields"), MAGAZINE_LIST))


@bp.post("/magazines")
@admin_required
@apidoc.body(MagazineSchema)
@idempotent()
@apidoc.response(MagazineSchema, 201, description="Created", headers=CREATED_HEADERS)
@apidoc.errors(409)
def create_magazine(body: dict[str, Any]):
    """Create a magazine issue.

    The ISSN is checksum-validated and stored as `NNNN-NNNC`. An issue whose
    (`issn`, `issue_number`) already exists is 409 `DUPLICATE_RESOURCE`.
    """
    return create_resource(Magazine, body, magazine_to_dict)


@bp.put("/magazines/<int:magazine_id>")
@admin_required
@apidoc.body(MagazineSchema)
@apidoc.response(MagazineSchema)
@apidoc.errors(409)
def replace_magazine(magazine_id: int, body: dict[str, Any]):
    """Replace a magazine issue (every required field must be present).

    `stock`, the only optional field, is reset to 0 when absent.
    """
    return replace_resource(Magazine, magazine_id, body, magazine_schema.fields, magazine_to_dict)


@bp.patch("/magazines/<int:magazine_id>")
@admin_required
@apidoc.body(magazine_patch_schema, merge_patch=True)
@apidoc.response(MagazineSchema)
@apidoc.errors(409)
def update_magazine(magazine_id: int, body: dict[str, Any]):
    """Update a magazine issue with a JSON merge patch.

    Every magazine field always has a value, so `null` is refused (400) for all of them.
    """
    return update_resource(Magazine, magazine_id, body, magazine_to_dict)


@bp.delete("/magazines/<int:magazine_id>")
@admin_required
@apidoc.response(None, 204, description="Deleted")
def delete_magazine(magazine_id: int):
    """Delete a magazine issue."""
    return delete_resource(Magazine, magazine_id, magazine_to_dict)
