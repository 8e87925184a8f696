"""Which requests the response cache serves, and under which canonical key."""

from __future__ import annotations

import orjson
from flask import Request, current_app
from marshmallow import ValidationError

from bookstore.openapi.decorators import load_query, view_doc
from bookstore.web.requests import current_request

CATALOG_BLUEPRINTS = frozenset({"books", "authors", "magazines"})
BOOK_ITEM_ENDPOINT = "books.get_book"
_ENTRY = "bookstore.redis.cache.entry"  # environ: (url, book id) of this request, or None


def cache_key(req: Request | None = None) -> str | None:
    """This request's canonical cache key, or None when it is not to be cached.

    A catalog read without a query string is keyed on its path. With one, the view's
    query schema parses it, as the view will: the key is the path plus the parsed
    values, sorted by name, so parameter order, percent-encoding and the spelling of a
    value (``per_page=020``) make no new entry. A parameter the schema does not know, a
    repeated parameter or a value it refuses: not cached (the view answers 400 anyway).
    """
    req = req or current_request()
    if req.method not in ("GET", "HEAD") or req.blueprint not in CATALOG_BLUEPRINTS:
        return None
    if not req.environ.get("QUERY_STRING"):
        return req.path
    view = current_app.view_functions.get(req.endpoint or "")
    schema = None if view is None else view_doc(view).get("query")
    args = req.args
    if schema is None or any(len(values) > 1 for values in args.listvalues()):
        return None
    try:
        parsed = load_query(req, schema)
    except ValidationError:
        return None
    if not parsed:
        return req.path
    return f"{req.path}?{orjson.dumps(sorted(parsed.items()), default=str).decode()}"


def entry_of(req: Request) -> tuple[str, int | None] | None:
    """(canonical URL, book id of a book's own resource) of a cacheable request, once."""
    if _ENTRY not in req.environ:
        url = cache_key(req)
        if url is None:
            req.environ[_ENTRY] = None
        else:
            view_args = req.view_args or {}
            book_id = view_args.get("book_id") if req.endpoint == BOOK_ITEM_ENDPOINT else None
            req.environ[_ENTRY] = (url, book_id)
    return req.environ[_ENTRY]  # type: ignore[no-any-return]
