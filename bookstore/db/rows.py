"""Rows sent with a PostgreSQL statement as a FROM clause that SQLAlchemy can cache.

``values(...).data(rows)`` puts the rows into the statement itself, and SQLAlchemy 2.0
compiles such a statement again on every execution (multi-row VALUES has no cache key).
Here each column travels as one array parameter, unnested in the database:
``unnest(:a::INTEGER[], ...) AS name(a, ...)``. The statement's text depends only on the
columns, so it is compiled once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import TableValuedAlias, column, func, literal
from sqlalchemy.dialects.postgresql import ARRAY


def unnested(
    name: str,
    columns: Sequence[tuple[str, Any]],
    rows: Sequence[Sequence[Any]],
    *,
    ordinality: str | None = None,
) -> TableValuedAlias:
    """``rows`` (tuples in the order of ``columns``, each a name and a SQL type) as the
    FROM clause ``name``.

    ``ordinality``: also a column of that name numbering the rows from 1, in their order.
    """
    # An ARRAY parameter renders with its cast (``%(p)s::INTEGER[]``): typed even when empty.
    arrays = [
        literal([row[n] for row in rows], ARRAY(type_)) for n, (_, type_) in enumerate(columns)
    ]
    table = func.unnest(*arrays).table_valued(
        *[column(label, type_) for label, type_ in columns], with_ordinality=ordinality
    )
    return table.render_derived(name=name)
