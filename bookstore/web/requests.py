"""The request side: the request object, request ids and JSON bodies."""

from __future__ import annotations

import re
from random import getrandbits
from typing import Any

import orjson
from flask import Request, request
from werkzeug.exceptions import RequestEntityTooLarge

from bookstore.exceptions import APIError, BadRequest, InvalidJSON

MERGE_PATCH_TYPE = "application/merge-patch+json"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def current_request() -> Request:
    """Flask's ``request``: kept for the modules that still call it; new code uses ``request``."""
    return request


# -- request ids ---------------------------------------------------------------------


def new_request_id() -> str:
    """``req_`` and 96 random bits in hex, unique per request across processes.

    The bits come from the ``random`` module's generator, which Python seeds again from
    the operating system in every forked process (each gunicorn worker). An id needs to be
    unique, not secret: ``os.urandom`` made a system call per request and released the GIL
    for it, which on a busy worker hands the request's thread over to another one.
    """
    return "req_%024x" % getrandbits(96)  # noqa: UP031 - the fastest formatting here


def request_id() -> str:
    """The request's id, kept in the WSGI environ: ``g`` can outlive a request."""
    environ = request.environ
    rid = environ.get("bookstore.request_id")
    if rid is None:
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        rid = incoming if _REQUEST_ID_RE.match(incoming) else new_request_id()
        environ["bookstore.request_id"] = rid
    return rid


# -- request bodies ------------------------------------------------------------------


def request_body() -> bytes:
    """The raw body; 413 beyond ``MAX_CONTENT_LENGTH``, chunked bodies included.

    Werkzeug raises 413 on a ``Content-Length`` over the limit, but it cuts a chunked body
    (no ``Content-Length``) at the limit without an error: the first megabyte of a larger
    body would be parsed as if it were all of it. One byte more tells the two apart. A body
    cut short by the client (fewer bytes than its ``Content-Length``) is 400.
    """
    raw = request.get_data(cache=True)
    expected = request.content_length
    if expected is not None and len(raw) < expected:  # gunicorn hands on what came before EOF
        raise BadRequest("The request body is shorter than its Content-Length")
    limit = request.max_content_length
    cut = request.content_length is None and limit is not None and len(raw) >= limit
    if cut and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    return raw


def json_body(*, merge_patch: bool = False) -> dict[str, Any]:
    """The request body as a JSON object, or the contract's 400/413/415."""

    mimetype = request.mimetype
    allowed = ("application/json", MERGE_PATCH_TYPE) if merge_patch else ("application/json",)
    if mimetype not in allowed:
        raise APIError(
            f"Content-Type must be {' or '.join(allowed)}",
            status=415,
            code="UNSUPPORTED_MEDIA_TYPE",
        )
    raw = request_body()
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(f"The request body is not valid JSON: {exc.args[0]}") from None
    if not isinstance(payload, dict):
        raise BadRequest("The request body must be a JSON object")
    return payload
