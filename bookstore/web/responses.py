"""Responses: the JSON envelope, ETags and conditional requests, links.

Bodies are encoded with orjson and spliced into the envelope as bytes, so the ``data``
part is serialised exactly once and doubles as the input of the ETag.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import flask
import orjson
from flask import request
from werkzeug.datastructures import Headers
from xxhash import xxh3_128

from bookstore.web.requests import current_request, request_id

JSON_TYPE = "application/json; charset=utf-8"
_JSON_CONTENT_TYPE = (("Content-Type", JSON_TYPE),)
NO_STORE = "private, no-store"
MAX_DETAILS = 100
MAX_FIELD_CHARS = 200

# -- the request and the response -----------------------------------------------------

# Headers Werkzeug rewrites on the way out (made absolute / IRI-encoded).
_REWRITTEN = frozenset({"location", "content-location"})
Pairs = Sequence[tuple[str, str]]


class ComposedHeaders(Headers):
    """Werkzeug's headers, taking the pairs the app composes itself without a check each.

    ``Headers.add`` and ``extend`` check every value for line breaks through a generic
    iterator, about 0.8 us a header, and a catalog answer carries fifteen. Pairs built by
    the app from constants, numbers, hex digests and request ids already matched against
    a pattern cannot hold a line break: :func:`add_headers` appends them as they are. Any
    other value (a client's, a stored one) still goes through ``add``/``extend``, and
    gunicorn checks every header name and value once more before it writes them.
    """

    @classmethod
    def composed(cls, pairs: Pairs) -> ComposedHeaders:
        headers = cls()
        headers.add_composed(pairs)
        return headers

    def add_composed(self, pairs: Pairs) -> None:
        self._list.extend(pairs)


def add_headers(response: flask.Response, pairs: Pairs) -> None:
    """Append ``pairs`` the app composed (see :class:`ComposedHeaders`) to ``response``."""
    headers = response.headers
    if type(headers) is ComposedHeaders:
        headers.add_composed(pairs)
    else:  # a response built elsewhere (a view's own Werkzeug response): checked as usual
        headers.extend(pairs)


class Response(flask.Response):
    """Flask's response with :class:`ComposedHeaders`, and no header copy on the way out.

    Werkzeug hands the server a copy of the headers (each one validated again as it is
    copied) so that it can rewrite ``Location``, drop ``Content-Length`` from 1xx/204/304
    answers or compute a missing length. An ordinary JSON answer, with its length already
    known and neither location header, needs none of that: the headers go out as they are.
    """

    def __init__(
        self, response: Any = None, status: Any = None, headers: Any = None, **kwargs: Any
    ) -> None:
        if not isinstance(headers, Headers):
            headers = ComposedHeaders(headers)  # given pairs are checked, as by Werkzeug
        super().__init__(response, status, headers, **kwargs)

    def body_bytes(self) -> bytes:
        """The body, as ``get_data()`` gives it, without a join when it is one bytes part."""
        parts = self.response
        if type(parts) is list and len(parts) == 1 and type(parts[0]) is bytes:
            return parts[0]  # type: ignore[no-any-return]
        return self.get_data()

    def get_wsgi_headers(self, environ: dict[str, Any]) -> Headers:
        status = self.status_code
        if status < 200 or status in (204, 304):
            return super().get_wsgi_headers(environ)
        has_length = False
        for name, _ in self.headers:
            lowered = name.lower()
            if lowered in _REWRITTEN:
                return super().get_wsgi_headers(environ)
            has_length = has_length or lowered == "content-length"
        return self.headers if has_length else super().get_wsgi_headers(environ)


# -- encoding ------------------------------------------------------------------------


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def etag_of(*parts: bytes) -> str:
    """A strong ETag: the 128-bit XXH3 hash of ``parts``, in hex.

    An ETag tells versions of one representation apart; it guards nothing against an
    adversary (only admins write the catalog), so it needs a well-distributed 128-bit hash,
    not a cryptographic one. SHA-256 over a 7 KB list page took 6 us on a CPU with SHA
    instructions and 28-40 us on one without (a fortieth of the page's whole cost); XXH3
    takes under 2 us on either.
    """
    digest = xxh3_128()
    for part in parts:
        digest.update(part)
    return '"' + digest.hexdigest() + '"'


def _meta() -> bytes:
    return b'"meta":{"request_id":"' + request_id().encode() + b'"}'


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
    body = {
        "error": {
            "status": status,
            "code": code,
            "message": message,
            "details": [_short_field(detail) for detail in listed],
            "request_id": request_id(),
        }
    }
    response = Response(dumps(body), status=status, content_type=JSON_TYPE)
    response.headers.update(headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def _short_field(detail: Mapping[str, str]) -> Mapping[str, str]:
    # Field names can be the client's own (unknown keys): echo a bounded prefix only.
    field = detail.get("field", "")
    if len(field) <= MAX_FIELD_CHARS:
        return detail
    return {**detail, "field": field[:MAX_FIELD_CHARS] + "..."}


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match``/``If-Match`` header names ``etag`` (or is ``*``)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    candidates = (tag.strip().removeprefix("W/") for tag in header.split(","))
    return etag in candidates


def conditional_json(
    body_parts: list[bytes],
    etag_parts: Iterable[bytes],
    *,
    status: int = 200,
    cache_control: str = NO_STORE,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON response with a strong ETag; 304 when ``If-None-Match`` matches it."""
    etag = etag_of(*etag_parts)
    environ = current_request().environ
    # A digest and one of the app's own directives; each ``headers[name] = value`` would
    # rescan the list, so the headers are built in one.
    listed = ComposedHeaders.composed((("ETag", etag), ("Cache-Control", cache_control)))
    if headers:
        listed.extend(headers.items())  # Location: a path, checked as usual
    if environ["REQUEST_METHOD"] in ("GET", "HEAD") and etag_matches(
        environ.get("HTTP_IF_NONE_MATCH"), etag
    ):
        return Response(status=304, headers=listed)
    listed.add_composed(_JSON_CONTENT_TYPE)
    return Response(b"".join(body_parts), status=status, headers=listed)


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
        [b'{"data":', data_bytes, b",", _meta(), b"}"],
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
    data_bytes = dumps(items)
    rest = dumps({"pagination": pagination, "links": links})
    headers = {"Link": link_header(links)}
    return conditional_json(
        [b'{"data":', data_bytes, b",", rest[1:-1], b",", _meta(), b"}"],
        [data_bytes, rest],
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
    return header is None or etag_matches(header, current_etag)


# -- links ---------------------------------------------------------------------------


def query_string(params: Mapping[str, Any]) -> str:
    return urlencode([(k, v) for k, v in params.items() if v is not None and v != ""])


def url_with(path: str, params: Mapping[str, Any]) -> str:
    query = query_string(params)
    return f"{path}?{query}" if query else path


def link_header(links: Mapping[str, str | None]) -> str:
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items() if url)
