r"""Response cache for public catalog reads, shared in Redis (or in process without it).

What is cached: ``GET``/``HEAD`` of the ``books``, ``authors`` and ``magazines``
blueprints that answer ``200`` with ``Cache-Control: public``. The key is canonical: the
path plus the query as the view's own query schema parses it
(:func:`~bookstore.redis.cache_keys.cache_key`), so every spelling of one query is one
entry, and a query the view would refuse (unknown, repeated or invalid parameters) is
not cached at all. Those representations are the same for every caller, so a bearer
token does not bypass the cache; anything ``private``/``no-store`` is never stored. The
entry is the body up to (not including) ``meta``, the ``ETag`` and the headers, so a hit
answers ``If-None-Match`` with 304 and carries a fresh request id.

Invalidation by what changed. Every entry is tagged with the catalog *generation* read
at lookup time, and a book's own resource (``/v1/books/{id}``) also with that book's
generation; a tag that does not match is a miss, and each is bumped right after the
commit that changed it (seen by SQLAlchemy session events), whichever worker or
instance serves the next read:

- a book whose row changed in stock only (orders, cancellations, expiry; the services
  report the ids of their Core ``UPDATE``\ s with :func:`books_changed`): that book's
  generation. Lists that carry stock are cached for ``CACHE_LIST_STOCK_MAX_AGE`` at
  most (:func:`list_with_stock`), which bounds how old the stock they show may be;
- any other catalog write (other columns, inserts, deletes, authors, magazines, and a
  Core ``UPDATE`` of books nobody reported): the catalog generation, so every entry.

The lookup reads the generation(s) and the entry before the view: within the rate
limiter's script call when the limiter counts in Redis (:mod:`bookstore.redis.readahead`,
so a hit costs one round trip), else with one ``MGET``. A miss is stored at the end of
its request if its tag is still current; entries have a TTL, a
size cap and there are at most ``CACHE_MAX_ENTRIES`` of them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

import click
import orjson
from flask import Flask, Request, current_app, has_app_context, has_request_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from bookstore import openapi
from bookstore.extensions import db
from bookstore.redis import readahead
from bookstore.redis.cache_keys import entry_of
from bookstore.redis.cache_stores import LocalStore, RedisStore
from bookstore.redis.client import get_link
from bookstore.web.requests import current_request, request_id
from bookstore.web.responses import JSON_TYPE, Response, add_headers, etag_matches

openapi.COMMON_HEADERS["X-Cache"] = {
    "description": "`HIT` or `MISS` on public catalog reads (the shared response cache)",
    "schema": {"type": "string", "enum": ["HIT", "MISS"]},
}
CATALOG_TABLES = frozenset({"books", "authors", "magazines"})
STOCK_COLUMNS = frozenset({"stock", "updated_at"})  # a change of these alone: stock-only
_PENDING = "bookstore.redis.cache"  # environ: (url, tag, book id) of a miss to store
_STOCK_LIST = "bookstore.redis.cache.stock_list"  # environ: a list that carries stock
# session.info keys of this transaction: it wrote the catalog beyond stock; ran a Core
# UPDATE of books not reported yet; the ids of books whose stock changed.
_CHANGED = "bookstore.catalog_changed"
_UNREPORTED = "bookstore.catalog_unreported_update"
_BOOK_IDS = "bookstore.catalog_book_ids"


def init_app(app: Flask) -> None:
    if not app.config["CACHE_ENABLED"]:
        return
    link = get_link(app)
    if link is not None:
        store: RedisStore | LocalStore = RedisStore(
            link, ttl=app.config["CACHE_TTL"], max_entries=app.config["CACHE_MAX_ENTRIES"]
        )
    else:
        store = LocalStore(
            app.config["CACHE_MAX_ENTRIES"],
            ttl=app.config["CACHE_TTL"],
            generation_file=Path(app.instance_path) / "cache-generation",
        )
    app.extensions["bookstore_cache"] = store
    if isinstance(store, RedisStore):
        readahead.register(app, functools.partial(_lookup_keys, store))
    app.before_request(functools.partial(_lookup, store))
    app.after_request(
        functools.partial(
            _store,
            store,
            app.config["CACHE_MAX_ENTRY_BYTES"],
            app.config["CACHE_LIST_STOCK_MAX_AGE"],
        )
    )
    app.cli.add_command(cache_clear_command)
    _listen_for_catalog_writes()


def invalidate() -> None:
    """Make every cached catalog response stale (for writes the session does not see)."""
    store = current_app.extensions.get("bookstore_cache")
    if store is not None:
        store.bump()


def books_changed(ids: Iterable[int]) -> None:
    """Report that these books' stock changed in this transaction (a Core ``UPDATE``).

    Call it right after the statement: at commit only these books' own entries go stale,
    not every cached list. A Core ``UPDATE`` of books left unreported invalidates all.
    """
    if "bookstore_cache" not in current_app.extensions:
        return  # no cache: nothing to invalidate, and nothing left in the session
    info = db.session.info
    info.setdefault(_BOOK_IDS, set()).update(ids)
    info.pop(_UNREPORTED, None)


def list_with_stock() -> None:
    """Mark this response as a list carrying stock: cached ``CACHE_LIST_STOCK_MAX_AGE`` at most."""
    if has_request_context():
        current_request().environ[_STOCK_LIST] = True


@click.command("cache-clear")
def cache_clear_command() -> None:
    """Invalidate the catalog response cache (after loading data outside the API)."""
    invalidate()
    click.echo("Catalog response cache invalidated.")


# -- the request path --------------------------------------------------------------------


def _lookup_keys(store: RedisStore, req: Request) -> list[str] | None:
    entry = entry_of(req)
    return None if entry is None else store.lookup_keys(*entry)


def _lookup(store: RedisStore | LocalStore) -> Response | None:
    req = current_request()
    planned = entry_of(req)
    if planned is None:
        return None
    url, book_id = planned
    if isinstance(store, RedisStore):
        keys = store.lookup_keys(url, book_id)
        fetched = None if keys is None else readahead.take(req, keys)
        tag, entry = store.get(url, book_id, fetched)
    else:
        tag, entry = store.get(url, book_id)
    if entry is None:
        req.environ[_PENDING] = (url, tag, book_id)
        return None
    return _replay(entry)


def _meta_tail() -> bytes:
    return b',"meta":{"request_id":"' + request_id().encode() + b'"}}'


def _replay(entry: bytes) -> Response:
    head, _, prefix = entry.partition(b"\n")
    etag, cache_control, link = orjson.loads(head)
    if etag_matches(current_request().environ.get("HTTP_IF_NONE_MATCH"), etag):
        response = Response(status=304)
    else:
        response = Response(prefix + _meta_tail(), content_type=JSON_TYPE)
    headers = [("ETag", etag), ("Cache-Control", cache_control), ("X-Cache", "HIT")]
    if link:
        headers.append(("Link", link))
    response.headers.extend(headers)  # values read back from Redis: checked as they go in
    return response


_KEPT_HEADERS = frozenset({"etag", "cache-control", "link"})
_MISS = (("X-Cache", "MISS"),)


def _store(
    store: RedisStore | LocalStore, max_bytes: int, stock_max_age: int, response: Response
) -> Response:
    environ = current_request().environ
    pending = environ.pop(_PENDING, None)
    if pending is None:
        return response
    add_headers(response, _MISS)
    url, tag, book_id = pending
    if tag is None or response.status_code != 200 or response.direct_passthrough:
        return response  # tag None: Redis unreachable, no tag to store under
    # One pass over the headers instead of a case-insensitive scan per name.
    kept = {}
    for name, value in response.headers:
        lowered = name.lower()
        if lowered in _KEPT_HEADERS:
            kept[lowered] = value
    etag = kept.get("etag")
    cache_control = kept.get("cache-control", "")
    if (
        etag is None
        or "public" not in cache_control
        or "private" in cache_control
        or "no-store" in cache_control
    ):
        return response
    body = response.body_bytes() if isinstance(response, Response) else response.get_data()
    tail = _meta_tail()
    if not body.endswith(tail) or len(body) > max_bytes:
        return response
    head = orjson.dumps([etag, cache_control, kept.get("link")])
    ttl = stock_max_age if environ.get(_STOCK_LIST) else None
    store.put(url, tag, head + b"\n" + body[: -len(tail)], ttl, book_id)
    return response


# -- invalidation ------------------------------------------------------------------------


def _listen_for_catalog_writes() -> None:
    if event.contains(Session, "after_commit", _after_commit):
        return
    event.listen(Session, "after_flush", _note_flush)
    event.listen(Session, "do_orm_execute", _note_statement)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)


def _note_flush(session: Session, flush_context: UOWTransaction) -> None:
    if any(_is_catalog(obj) for obj in (*session.new, *session.deleted)):
        session.info[_CHANGED] = True
    for obj in session.dirty:
        if not _is_catalog(obj):
            continue
        changed = {attr.key for attr in inspect(obj).attrs if attr.history.has_changes()}
        if changed and changed <= STOCK_COLUMNS and obj.__tablename__ == "books":
            session.info.setdefault(_BOOK_IDS, set()).add(obj.id)
        elif changed:
            session.info[_CHANGED] = True


def _is_catalog(obj: object) -> bool:
    return getattr(obj, "__tablename__", None) in CATALOG_TABLES


def _note_statement(state: ORMExecuteState) -> None:
    # Core or ORM-enabled INSERT/UPDATE/DELETE run through the session (bulk stock updates).
    if state.is_select or not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    if table == "books" and state.is_update:
        state.session.info[_UNREPORTED] = True  # until books_changed() names the ids
    elif table in CATALOG_TABLES:
        state.session.info[_CHANGED] = True


def _after_commit(session: Session) -> None:
    everything = session.info.pop(_CHANGED, False) | session.info.pop(_UNREPORTED, False)
    ids = session.info.pop(_BOOK_IDS, None)
    if not (everything or ids) or not has_app_context():
        return
    store = current_app.extensions.get("bookstore_cache")
    if store is None:
        return
    if everything:
        store.bump()  # every entry carries the catalog generation: the books' too
    else:
        store.bump_books(ids)


def _after_rollback(session: Session) -> None:
    for key in (_CHANGED, _UNREPORTED, _BOOK_IDS):
        session.info.pop(key, None)
