"""Helpers shared by the catalog blueprints: lookups, conditional writes, cache headers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import Table, bindparam, select

from bookstore.errors import NotFound, PreconditionFailed
from bookstore.extensions import db
from bookstore.fastdb import FastSelect
from bookstore.http import etag_for, if_match_satisfied

M = TypeVar("M")


def catalog_cache_control() -> str:
    return f"public, max-age={current_app.config['CATALOG_MAX_AGE']}"


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


_by_id: dict[str, FastSelect] = {}


def row_or_404(table: Table, resource_id: int) -> Any:
    """Read one row on the lean path (no ORM entity loading, no transaction)."""
    query = _by_id.get(table.name)
    if query is None:
        query = _by_id[table.name] = FastSelect(select(table).where(table.c.id == bindparam("id")))
    row = query.first(id=resource_id)
    if row is None:
        raise NotFound()
    return row


def locked_for_write(
    model: type[M], resource_id: int, to_dict: Callable[[Any], Mapping[str, Any]]
) -> M:
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


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
