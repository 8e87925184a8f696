"""Rows sent with a PostgreSQL statement as array parameters, unnested in the database.

``values(...).data(rows)`` puts the rows into the statement itself, and SQLAlchemy 2.0
compiles such a statement again on every execution (multi-row VALUES has no cache key).
:class:`Rows` sends each column as one array parameter instead,
``unnest(:name_a::INTEGER[], ...) AS name(a, ...)``: the statement does not depend on the
rows, so it can be built once, at import, and is compiled once per process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TableValuedAlias, bindparam, column, func
from sqlalchemy.dialects.postgresql import ARRAY


@dataclass(frozen=True)
class Rows:
    """A FROM clause ``name`` of rows with these columns (each a name and a SQL type)."""

    name: str
    columns: tuple[tuple[str, Any], ...]

    def table(self, *, ordinality: str | None = None) -> TableValuedAlias:
        """The clause, bound by :meth:`params`. ``ordinality``: also a column of that name
        numbering the rows from 1, in their order."""
        # An ARRAY parameter renders with its cast (``%(p)s::INTEGER[]``): typed even when empty.
        arrays = [
            bindparam(self._param(label), type_=ARRAY(type_)) for label, type_ in self.columns
        ]
        table = func.unnest(*arrays).table_valued(
            *[column(label, type_) for label, type_ in self.columns], with_ordinality=ordinality
        )
        return table.render_derived(name=self.name)

    def params(self, rows: Sequence[Sequence[Any]]) -> dict[str, list[Any]]:
        """The execution parameters of ``rows``, tuples in the order of the columns."""
        return {
            self._param(label): [row[n] for row in rows]
            for n, (label, _) in enumerate(self.columns)
        }

    def _param(self, label: str) -> str:
        return f"{self.name}_{label}"
