"""Responses: the JSON envelope, ETags and conditional requests, links.

Bodies are encoded with orjson; the ``data`` part is encoded once, as the input of the
ETag, and enters the envelope as an ``orjson.Fragment``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import flask
import orjson
from flask import request
from werkzeug.datastructures import Headers

from bookstore.web.requests import request_id

JSON_TYPE = "application/json; charset=utf-8"
_JSON_CONTENT_TYPE = (("Content-Type", JSON_TYPE),)
NO_STORE = "private, no-store"
MAX_DETAILS = 100
MAX_FIELD_CHARS = 200

# -- the response --------------------------------------------------------------------

Pairs = Sequence[tuple[str, str]]


def add_headers(response: flask.Response, pairs: Pairs) -> None:
    """Append ``pairs`` to ``response`` (each value checked by Werkzeug)."""
    response.headers.extend(pairs)


class Response(flask.Response):
    """Flask's response (the app's ``response_class``), with the body as one bytes value."""

    def body_bytes(self) -> bytes:
        """The body, as ``get_data()`` gives it, without a join when it is one bytes part."""
        parts = self.response
        if type(parts) is list and len(parts) == 1 and type(parts[0]) is bytes:
            return parts[0]  # type: ignore[no-any-return]
        return self.get_data()


# -- encoding ------------------------------------------------------------------------


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def etag_of(*parts: bytes) -> str:
    """A strong ETag: the 128-bit BLAKE2b hash of ``parts``, in hex."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(part)
    return '"' + digest.hexdigest() + '"'


def _envelope(**parts: Any) -> bytes:
    return dumps({**parts, "meta": {"request_id": request_id()}})


def error_response(
    status: int,
    code: str,
    message: str,
    details: Iterable[Mapping[str, str]],
    headers: Mapping[str, str],
) -> Response:
    listed = list(details)
    if len(listed) > MAX_DETAILS:
        # A body of 50,000 unknown fields must not earn a 4 MB answer.
        message = f"{message} (the first {MAX_DETAILS} of {len(listed)} problems are listed)"
        listed = listed[:MAX_DETAILS]
    body = error_body(status, code, message, [_short_field(d) for d in listed], request_id())
    response = Response(body, status=status, content_type=JSON_TYPE)
    response.headers.update(headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def error_body(
    status: int, code: str, message: str, details: list[Mapping[str, str]], rid: str
) -> bytes:
    """The contract's error envelope; the server's own refusals use it too."""
    error = {"status": status, "code": code, "message": message, "details": details}
    return dumps({"error": {**error, "request_id": rid}})


def _short_field(detail: Mapping[str, str]) -> Mapping[str, str]:
    # Field names can be the client's own (unknown keys): echo a bounded prefix only.
    field = detail.get("field", "")
    if len(field) <= MAX_FIELD_CHARS:
        return detail
    return {**detail, "field": field[:MAX_FIELD_CHARS] + "..."}


def etag_matches(header: str | None, etag: str, *, weak: bool = True) -> bool:
    """Whether a conditional header names ``etag`` (or is ``*``).

    ``If-None-Match`` compares weakly (``W/"x"`` matches ``"x"``); ``If-Match`` strongly
    (``weak=False``): a weak tag never matches (RFC 9110, 13.1.1 and 8.8.3.2).
    """
    if not header:
        return False
    if header.strip() == "*":
        return True
    candidates = (tag.strip() for tag in header.split(","))
    if weak:
        candidates = (tag.removeprefix("W/") for tag in candidates)
    return etag in candidates


def conditional_json(
    body: bytes,
    etag_parts: Iterable[bytes],
    *,
    status: int = 200,
    cache_control: str = NO_STORE,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON response with a strong ETag; 304 when ``If-None-Match`` matches it."""
    etag = etag_of(*etag_parts)
    environ = request.environ
    listed = Headers([("ETag", etag), ("Cache-Control", cache_control)])
    if headers:
        listed.extend(headers.items())
    if environ["REQUEST_METHOD"] in ("GET", "HEAD") and etag_matches(
        environ.get("HTTP_IF_NONE_MATCH"), etag
    ):
        return Response(status=304, headers=listed)
    listed.extend(_JSON_CONTENT_TYPE)
    return Response(body, status=status, headers=listed)


def resource_response(
    data: Mapping[str, Any] | bytes,
    *,
    status: int = 200,
    cache_control: str = NO_STORE,
    location: str | None = None,
) -> Response:
    """``{"data": ..., "meta": ...}`` with an ETag over ``data``."""
    data_bytes = data if isinstance(data, bytes) else dumps(data)
    headers = {"Location": location} if location else None
    return conditional_json(
        _envelope(data=orjson.Fragment(data_bytes)),
        [data_bytes],
        status=status,
        cache_control=cache_control,
        headers=headers,
    )


def collection_response(
    items: list[Mapping[str, Any]],
    pagination: Mapping[str, Any],
    links: Mapping[str, str | None],
    *,
    cache_control: str = NO_STORE,
) -> Response:
    # Each part encoded once: the ETag's input and, as a Fragment, the envelope's.
    parts = [dumps(items), dumps(pagination), dumps(links)]
    headers = {"Link": link_header(links)}
    data, paging, linked = (orjson.Fragment(part) for part in parts)
    return conditional_json(
        _envelope(data=data, pagination=paging, links=linked),
        parts,
        cache_control=cache_control,
        headers=headers,
    )


def no_content() -> Response:
    return Response(status=204)


def etag_for(data: Mapping[str, Any]) -> str:
    """The ETag a ``GET`` of this representation carries (used to check ``If-Match``)."""
    return etag_of(dumps(data))


def if_match_satisfied(current_etag: str) -> bool:
    header = request.headers.get("If-Match")
    return header is None or etag_matches(header, current_etag, weak=False)


# -- links ---------------------------------------------------------------------------


def query_string(params: Mapping[str, Any]) -> str:
    return urlencode([(k, v) for k, v in params.items() if v is not None and v != ""])


def url_with(path: str, params: Mapping[str, Any]) -> str:
    query = query_string(params)
    return f"{path}?{query}" if query else path


def link_header(links: Mapping[str, str | None]) -> str:
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items() if url)
