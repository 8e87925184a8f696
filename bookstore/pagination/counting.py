"""How many rows an offset page's query matches: exact up to a limit, then estimated.

``count(*)`` visits every matching row: on a million books a broad filter or search costs
50-200 ms, more than the page itself. The count stops at ``PAGINATION_COUNT_LIMIT`` + 1
rows (1,000 by default); past that, ``total`` is PostgreSQL's planner estimate for the
query and the page has no ``last`` link. ``PAGINATION_COUNT_LIMIT=0`` always counts
exactly; other databases (the embedded SQLite) always count exactly too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import Connection, Select, func, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement


@dataclass(frozen=True)
class Total:
    value: int
    exact: bool


def count(conn: Connection, stmt: Select[Any]) -> Total:
    """The number of rows ``stmt`` matches (exact, or an estimate beyond the limit)."""
    limit = current_app.config["PAGINATION_COUNT_LIMIT"]
    stmt = stmt.order_by(None)
    if limit == 0 or conn.dialect.name != "postgresql":
        return Total(
            conn.execute(select(func.count()).select_from(stmt.subquery())).scalar_one(), True
        )
    # Only a constant per row: the database can count from an index alone when it covers
    # the filter (the visibility map permitting), without reading whole rows.
    probe = stmt.with_only_columns(literal_column("1"), maintain_column_froms=True)
    found = conn.execute(
        select(func.count()).select_from(probe.limit(limit + 1).subquery())
    ).scalar_one()
    if found <= limit:
        return Total(found, True)
    return Total(max(limit + 1, estimate(conn, stmt)), False)


class Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON) <select>``, compiled at each use.

    Not in SQLAlchemy's compiled cache: a cached statement's rows are matched to its
    select's columns, which the plan's single column is not.
    """

    inherit_cache = False

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement


@compiles(Explain)
def _compile_explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def estimate(conn: Connection, stmt: Select[Any]) -> int:
    """The planner's row estimate for ``stmt`` (an EXPLAIN: planning only, no execution)."""
    plan = conn.execute(Explain(stmt)).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])
