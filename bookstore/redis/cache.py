"""Response cache for public catalog reads, shared in Redis (or in process without it).

What is cached: ``GET``/``HEAD`` of the ``books``, ``authors`` and ``magazines``
blueprints that answer ``200`` with ``Cache-Control: public``; the key is the path plus
the query parameters sorted by name. Those representations are the same for every
caller, so a bearer token does not bypass the cache; anything ``private``/``no-store``
is never stored. The entry is the body up to (not including) ``meta``, the ``ETag`` and
the headers, so a hit answers ``If-None-Match`` with 304 and carries a fresh request id.

Invalidation: every entry is tagged with the catalog *generation* read at lookup time.
Any commit that wrote a catalog table (seen by SQLAlchemy session events, so services
such as orders are covered too) bumps the generation right after the commit, and a tag
that does not match is a miss: no read after a write returns the old data, whichever
worker or instance serves it. The lookup is one ``MGET generation entry`` sent in the
rate limiter's round trip, and a miss's ``SET`` waits for the process's next round trip:
the cache adds no round trip of its own.
"""

from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import unquote_plus

import click
import orjson
from flask import Flask, Request, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from bookstore import openapi
from bookstore.redis.cache_stores import LocalStore, RedisStore
from bookstore.redis.client import get_link
from bookstore.web.requests import current_request, request_id
from bookstore.web.responses import JSON_TYPE, Response, add_headers, etag_matches

openapi.COMMON_HEADERS["X-Cache"] = {
    "description": "`HIT` or `MISS` on public catalog reads (the shared response cache)",
    "schema": {"type": "string", "enum": ["HIT", "MISS"]},
}
CATALOG_BLUEPRINTS = frozenset({"books", "authors", "magazines"})
CATALOG_TABLES = frozenset({"books", "authors", "magazines"})
_URL = "bookstore.redis.cache.url"  # environ: this request's normalised URL
_PENDING = "bookstore.redis.cache"  # environ: (url, generation) of a miss to store
_CHANGED = "bookstore.catalog_changed"  # session.info: this transaction wrote the catalog


def init_app(app: Flask) -> None:
    if not app.config["CACHE_ENABLED"]:
        return
    link = get_link(app)
    if link is not None:
        store: RedisStore | LocalStore = RedisStore(link, ttl=app.config["CACHE_TTL"])
    else:
        store = LocalStore(
            app.config["CACHE_MAX_ENTRIES"],
            ttl=app.config["CACHE_TTL"],
            generation_file=Path(app.instance_path) / "cache-generation",
        )
    app.extensions["bookstore_cache"] = store
    if link is not None:
        # Fetched with the rate limiter's round trip.
        link.planned_reads = functools.partial(_planned_reads, store)
    app.before_request(functools.partial(_lookup, store))
    app.after_request(functools.partial(_store, store, app.config["CACHE_MAX_ENTRY_BYTES"]))
    app.cli.add_command(cache_clear_command)
    _listen_for_catalog_writes()


def invalidate() -> None:
    """Make every cached catalog response stale (for writes the session does not see)."""
    store = current_app.extensions.get("bookstore_cache")
    if store is not None:
        store.bump()


@click.command("cache-clear")
def cache_clear_command() -> None:
    """Invalidate the catalog response cache (after loading data outside the API)."""
    invalidate()
    click.echo("Catalog response cache invalidated.")


# -- the request path --------------------------------------------------------------------


def _decoded_name(pair: str) -> str:
    name = pair.partition("=")[0]
    return unquote_plus(name) if "%" in name or "+" in name else name


def normalised_url(req: Request | None = None) -> str:
    """The path and the query's ``name=value`` pairs, as sent, sorted by decoded name.

    Sorting by the name the view reads makes parameter order irrelevant; the sort is
    stable, so repeated parameters (the first one counts) keep their order even when one
    spelling of the name is percent-encoded. The pairs themselves are kept as sent, not
    decoded and encoded again (a tenth of a millisecond for a cursor page's query): two
    spellings of one value are two entries, never one entry for two meanings.
    """
    req = req or current_request()
    query = req.environ.get("QUERY_STRING", "")
    pairs = sorted((pair for pair in query.split("&") if pair), key=_decoded_name)
    return f"{req.path}?{'&'.join(pairs)}" if pairs else req.path


def _cacheable_url() -> str | None:
    """This request's cache key, or None when it is not a cacheable read (kept per request)."""
    req = current_request()
    environ = req.environ
    if _URL not in environ:
        if req.method in ("GET", "HEAD") and req.blueprint in CATALOG_BLUEPRINTS:
            # Most reads carry no query string: their key is the path, nothing to sort.
            url = normalised_url(req) if environ.get("QUERY_STRING") else req.path
        else:
            url = None
        environ[_URL] = url
    return environ[_URL]


def _planned_reads(store: RedisStore) -> list[str] | None:
    url = _cacheable_url()
    return None if url is None else store.reads(url)


def _lookup(store: RedisStore | LocalStore) -> Response | None:
    url = _cacheable_url()
    if url is None:
        return None
    generation, entry = store.get(url)
    if entry is None:
        current_request().environ[_PENDING] = (url, generation)
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


def _store(store: RedisStore | LocalStore, max_bytes: int, response: Response) -> Response:
    pending = current_request().environ.pop(_PENDING, None)
    if pending is None:
        return response
    add_headers(response, _MISS)
    url, generation = pending
    if generation is None or response.status_code != 200 or response.direct_passthrough:
        return response  # generation None: Redis unreachable, no tag to store under
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
    store.put(url, generation, head + b"\n" + body[: -len(tail)])
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
    for obj in (*session.new, *session.dirty, *session.deleted):
        if getattr(obj, "__tablename__", None) in CATALOG_TABLES:
            session.info[_CHANGED] = True
            return


def _note_statement(state: ORMExecuteState) -> None:
    # Core or ORM-enabled INSERT/UPDATE/DELETE run through the session (bulk stock updates).
    if state.is_select or not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in CATALOG_TABLES:
        state.session.info[_CHANGED] = True


def _after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False) and has_app_context():
        store = current_app.extensions.get("bookstore_cache")
        if store is not None:
            store.bump()


def _after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)
