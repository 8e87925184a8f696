"""Offset and keyset pagination, sorting and sparse fields: one implementation for every list.

A list view builds an unexecuted ``select()`` and hands it to :func:`paginate`
(:mod:`bookstore.pagination.pages`); cursors are signed in :mod:`.cursors`, totals counted
in :mod:`.counting`.
"""

from bookstore.pagination.pages import (
    ALWAYS_FIELDS,
    ListSpec,
    Page,
    paginate,
    parse_fields,
    select_fields,
)

__all__ = ["ALWAYS_FIELDS", "ListSpec", "Page", "paginate", "parse_fields", "select_fields"]
