"""Magazines: CRUD, filters, substring search, sort, both pagination modes, sparse fields."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import Select, select

from bookstore import openapi
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
    magazine_to_dict,
)
from bookstore.services.idempotency import idempotent

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


def _filtered(query: dict[str, Any]) -> Select[Any]:
    stmt = where_equal(select(magazines), magazines, query, ("category", "issn", "publisher"))
    stmt = where_between(stmt, magazines.c.price, query, "min_price", "max_price")
    stmt = where_between(stmt, magazines.c.publication_date, query, "date_from", "date_to")
    stmt = where_in_stock(stmt, magazines.c.stock, query.get("in_stock"))
    if "q" in query:
        stmt = stmt.where(ilike_any(query["q"], magazines.c.title, magazines.c.publisher))
    return stmt


@bp.get("/magazines")
@openapi.query(MagazineListQuery)
@openapi.response(MagazineSchema, many=True)
def list_magazines(query: dict[str, Any]):
    """List magazine issues with filters, search, sort and pagination.

    Sortable by `id`, `title`, `price` and `publication_date` (each backed by an index,
    so keyset cursors stay cheap at any depth). `q` is a case-insensitive substring match
    over title and publisher; `publisher` and `category` match exactly.
    """
    page = paginate(_filtered(query), query, MAGAZINE_LIST, "/v1/magazines")
    return catalog_list(page, magazine_to_dict)


@bp.get("/magazines/<int:magazine_id>")
@openapi.query(FieldsQuery)
@openapi.response(MagazineSchema)
def get_magazine(magazine_id: int, query: dict[str, Any]):
    """Get one magazine issue."""
    item = magazine_to_dict(row_or_404(magazines, magazine_id))
    return catalog_item(item, parse_fields(query.get("fields"), MAGAZINE_LIST))


@bp.post("/magazines")
@admin_required
@openapi.body(MagazineSchema)
@idempotent()
@openapi.response(MagazineSchema, 201, description="Created", headers=CREATED_HEADERS)
@openapi.errors(409)
def create_magazine(body: dict[str, Any]):
    """Create a magazine issue.

    The ISSN is checksum-validated and stored as `NNNN-NNNC`. An issue whose
    (`issn`, `issue_number`) already exists is 409 `DUPLICATE_RESOURCE`.
    """
    return create_resource(Magazine, body, magazine_to_dict)


@bp.put("/magazines/<int:magazine_id>")
@admin_required
@openapi.body(MagazineSchema)
@openapi.response(MagazineSchema)
@openapi.errors(409)
def replace_magazine(magazine_id: int, body: dict[str, Any]):
    """Replace a magazine issue (every required field must be present).

    `stock`, the only optional field, is reset to 0 when absent.
    """
    return replace_resource(Magazine, magazine_id, body, magazine_schema.fields, magazine_to_dict)


@bp.patch("/magazines/<int:magazine_id>")
@admin_required
@openapi.body(magazine_patch_schema, merge_patch=True)
@openapi.response(MagazineSchema)
@openapi.errors(409)
def update_magazine(magazine_id: int, body: dict[str, Any]):
    """Update a magazine issue with a JSON merge patch.

    Every magazine field always has a value, so `null` is refused (400) for all of them.
    """
    return update_resource(Magazine, magazine_id, body, magazine_to_dict)


@bp.delete("/magazines/<int:magazine_id>")
@admin_required
@openapi.response(None, 204, description="Deleted")
def delete_magazine(magazine_id: int):
    """Delete a magazine issue."""
    return delete_resource(Magazine, magazine_id, magazine_to_dict)
