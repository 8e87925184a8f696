"""What gunicorn itself does, adjusted: its own errors, its name, its graceful stop.

Loaded by gunicorn.conf.py in the arbiter, before any worker is forked.

- Requests gunicorn refuses before the app sees them (a request line over 8190 bytes,
  too many or too large headers, malformed HTTP) get the contract's JSON error envelope
  with a request id, instead of gunicorn's HTML page that echoes the request.
- The ``Server`` header says ``bookstore``: no software name, no version.
- On SIGTERM, a gthread worker stops accepting but keeps its listening socket open until
  its requests are done, so the kernel keeps queueing new connections that nobody will
  accept. :class:`DrainingThreadWorker` closes it as soon as the stop begins: new
  connections are refused (a balancer retries elsewhere) while in-flight requests finish.
"""

from __future__ import annotations

import json
import os
from typing import Any

import gunicorn.http.wsgi
import gunicorn.util
from gunicorn.workers.gthread import ThreadWorker

SERVER_NAME = "bookstore"
# Fixed messages: gunicorn's own would echo parts of the request, which may hold secrets.
SERVER_ERRORS = {
    400: ("VALIDATION_ERROR", "The request is not valid HTTP"),
    403: ("INSUFFICIENT_PERMISSIONS", "The request was refused"),
    414: ("URI_TOO_LONG", "The request line is longer than 8190 bytes"),
    417: ("EXPECTATION_FAILED", "The Expect header cannot be met"),
    431: ("REQUEST_HEADERS_TOO_LARGE", "Too many request headers, or one longer than 8190 bytes"),
    501: ("NOT_IMPLEMENTED", "The transfer coding is not supported"),
}


def error_response(status: int, reason: str) -> bytes:
    """The whole HTTP response gunicorn sends for a request it refused."""
    request_id = "req_" + os.urandom(12).hex()
    code, message = SERVER_ERRORS.get(status, ("INTERNAL_ERROR", "An unexpected error occurred"))
    error = {"status": status, "code": code, "message": message, "details": []}
    body = json.dumps({"error": {**error, "request_id": request_id}}, separators=(",", ":"))
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n\r\n"
    )
    return (head + body).encode("latin-1")


def _write_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    gunicorn.util.write_nonblock(sock, error_response(status_int, reason))


def install() -> None:
    gunicorn.util.write_error = _write_error  # called by the worker for refused requests
    gunicorn.http.wsgi.SERVER = SERVER_NAME  # read by each response's Server header


class DrainingThreadWorker(ThreadWorker):
    """gthread, refusing new connections from the moment a graceful stop begins."""

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive:
            for listener in self.sockets:
                listener.close()  # closed again at the end: gunicorn's close is idempotent
