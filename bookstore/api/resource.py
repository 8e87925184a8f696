"""Helpers shared by the catalog blueprints: lookups, filters, writes and their responses.

Every catalog resource reads with Core (a select and a plain dict dump) and writes through
the ORM with one commit per request; the functions here are those steps, written once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from flask import Response, current_app
from sqlalchemy import ColumnElement, Select, Table, bindparam, literal_column, or_, select

from bookstore.db import reads
from bookstore.exceptions import NotFound, PreconditionFailed
from bookstore.extensions import db
from bookstore.pagination import Page, select_fields
from bookstore.redis import cache
from bookstore.services import transaction
from bookstore.services.idempotency import REPLAYED_HEADER
from bookstore.web.responses import (
    collection_response,
    etag_for,
    if_match_satisfied,
    no_content,
    resource_response,
)

M = TypeVar("M")
# Documented on every catalog 201: where the new resource lives, and whether it is a replay.
CREATED_HEADERS = {"Location": "string", REPLAYED_HEADER: "string"}
ToDict = Callable[[Any], dict[str, Any]]


def catalog_cache_control() -> str:
    config = current_app._get_current_object().config  # type: ignore[attr-defined]
    return f"public, max-age={config['CATALOG_MAX_AGE']}"


def stock_list_cache_control() -> str:
    """A list carrying stock, which orders change without invalidating it: a short life."""
    cache.list_with_stock()
    config = current_app._get_current_object().config  # type: ignore[attr-defined]
    max_age = min(config["CATALOG_MAX_AGE"], config["CACHE_LIST_STOCK_MAX_AGE"])
    return f"public, max-age={max_age}"


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


# -- reads ---------------------------------------------------------------------------

_by_id: dict[str, Select[Any]] = {}


def row_or_404(table: Table, resource_id: int) -> Any:
    """Read one row on the read path (no ORM entity loading, no transaction)."""
    query = _by_id.get(table.name)
    if query is None:
        query = _by_id[table.name] = select(table).where(table.c.id == bindparam("id"))
    row = reads.first(query, id=resource_id)
    if row is None:
        raise NotFound()
    return row


def catalog_item(item: dict[str, Any], wanted: set[str] | None = None) -> Response:
    """One catalog resource, publicly cacheable, optionally cut to ``fields=``."""
    return resource_response(select_fields(item, wanted), cache_control=catalog_cache_control())


def catalog_list(page: Page, to_dict: ToDict) -> Response:
    """One page of a catalog collection, publicly cacheable, cut to ``fields=``."""
    items = [select_fields(to_dict(row), page.fields) for row in page.rows]
    return collection_response(
        items, page.pagination, page.links, cache_control=catalog_cache_control()
    )


# -- filters -------------------------------------------------------------------------


def where_equal(
    stmt: Select[Any], table: Table, query: Mapping[str, Any], names: Iterable[str]
) -> Select[Any]:
    """``?category=x&isbn=y``: each parameter given must equal its column.

    Values are bound parameters (so are the other filters here): one compiled statement,
    in SQLAlchemy's cache, serves every value of a filter combination.
    """
    for name in names:
        if name in query:
            column = table.c[name]
            stmt = stmt.where(column == bindparam(name, query[name], type_=column.type))
    return stmt


def where_between(
    stmt: Select[Any], column: ColumnElement[Any], query: Mapping[str, Any], low: str, high: str
) -> Select[Any]:
    """Inclusive range filter from two optional parameters (``min_price``/``max_price``)."""
    if low in query:
        stmt = stmt.where(column >= bindparam(low, query[low], type_=column.type))
    if high in query:
        stmt = stmt.where(column <= bindparam(high, query[high], type_=column.type))
    return stmt


def where_in_stock(stmt: Select[Any], column: ColumnElement[Any], in_stock: Any) -> Select[Any]:
    """``in_stock=true``: stock above zero; ``false``: sold out; absent: no filter."""
    zero = literal_column("0")  # a constant of the statement, not a value to bind
    if in_stock is True:
        return stmt.where(column > zero)
    if in_stock is False:
        return stmt.where(column == zero)
    return stmt


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def ilike_any(text: str, *columns: ColumnElement[Any]) -> ColumnElement[bool]:
    """Case-insensitive substring match on any of ``columns``, wildcards in ``text`` escaped."""
    pattern = f"%{escape_like(text)}%"
    return or_(*(column.ilike(pattern, escape="\\") for column in columns))


# -- writes --------------------------------------------------------------------------


def locked_for_write(model: type[M], resource_id: int, to_dict: ToDict) -> M:
    """Load and lock the row, then honour ``If-Match`` against its current ETag (412)."""
    obj = db.session.get(model, resource_id, with_for_update=True)
    if obj is None:
        raise NotFound()
    if not if_match_satisfied(etag_for(to_dict(obj))):
        db.session.rollback()
        raise PreconditionFailed()
    return obj


def assign(obj: Any, data: Mapping[str, Any]) -> None:
    for key, value in data.items():
        setattr(obj, key, value)


def replacement(schema_fields: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """PUT semantics: every loadable field, absent optional ones reset to their default."""
    out = {}
    for name, field in schema_fields.items():
        if field.dump_only:
            continue
        if name in data:
            out[name] = data[name]
        else:
            default = field.load_default
            out[name] = default() if callable(default) else default
    return out


class ChangeHooks(Protocol):
    """Called inside the write's transaction, before its one commit (outbox events)."""

    def created(self, data: dict[str, Any]) -> None: ...
    def updated(self, obj: Any, before: dict[str, Any], after: dict[str, Any]) -> None: ...
    def deleted(self, data: dict[str, Any]) -> None: ...


def create_resource(
    model: type[M], body: Mapping[str, Any], to_dict: ToDict, hooks: ChangeHooks | None = None
) -> Response:
    """POST: insert, commit, 201 with ``Location``; constraint violations map centrally."""
    obj = model(**body)
    db.session.add(obj)
    db.session.flush()  # the id and timestamps belong in the representation and events
    data = to_dict(obj)
    if hooks:
        hooks.created(data)
    transaction.commit()
    return resource_response(data, status=201, location=data["_links"]["self"])


def _changed(obj: Any, to_dict: ToDict, hooks: ChangeHooks | None, apply: Callable[[], None]):
    before = to_dict(obj)
    apply()
    db.session.flush()
    after = to_dict(obj)
    if hooks and after != before:
        hooks.updated(obj, before, after)
    transaction.commit()
    return resource_response(after)


def replace_resource(
    model: type[M],
    resource_id: int,
    body: Mapping[str, Any],
    schema_fields: Mapping[str, Any],
    to_dict: ToDict,
    hooks: ChangeHooks | None = None,
) -> Response:
    """PUT: the body becomes the whole resource (absent optional fields take defaults)."""
    obj = locked_for_write(model, resource_id, to_dict)
    return _changed(obj, to_dict, hooks, lambda: assign(obj, replacement(schema_fields, body)))


def update_resource(
    model: type[M],
    resource_id: int,
    body: Mapping[str, Any],
    to_dict: ToDict,
    hooks: ChangeHooks | None = None,
) -> Response:
    """PATCH (JSON merge patch): only the fields sent change."""
    obj = locked_for_write(model, resource_id, to_dict)
    return _changed(obj, to_dict, hooks, lambda: assign(obj, body))


def delete_resource(
    model: type[M], resource_id: int, to_dict: ToDict, hooks: ChangeHooks | None = None
) -> Response:
    """DELETE: 204; a row still referenced elsewhere is 409 ``RESOURCE_IN_USE`` centrally."""
    obj = locked_for_write(model, resource_id, to_dict)
    if hooks:
        hooks.deleted(to_dict(obj))
    db.session.delete(obj)
    transaction.commit()
    return no_content()
