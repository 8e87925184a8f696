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
- gthread workers all poll the one listening socket and the first to wake takes whatever
  is queued: a burst of keep-alive connections (a balancer's upstream pool, a load
  generator) could land 16/0/0/0 on four workers, and one process (one GIL, one core)
  then served them all for as long as they lived. :class:`DrainingThreadWorker` lets a
  worker whose threads are all taken leave a new connection briefly to the others.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import gunicorn.http.wsgi
import gunicorn.util
from gunicorn.workers.gthread import ThreadWorker

from bookstore.web.requests import new_request_id

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
    request_id = new_request_id()
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


# gunicorn's own check of every response header, kept for whatever the fast path below
# does not vouch for (and for the errors it raises).
_check_headers = gunicorn.http.wsgi.Response.process_headers
# Header names gunicorn accepted (a token, not hop-by-hop), with their lowercase form.
_CHECKED_NAMES: dict[str, str] = {}
CHECKED_NAMES_KEPT = 256


def process_headers(self: Any, headers: list[tuple[Any, Any]]) -> None:
    """gunicorn's ``Response.process_headers``, with each header name checked once.

    gunicorn matches every name and value against a regular expression and lowercases the
    name twice, on every response: 2.3 us a header on the benchmark's machine, 35 us for
    a catalog answer's fifteen. A name it accepted once (and that is not hop-by-hop) is
    remembered; a value made of printable ASCII alone is within what its expression
    allows, checked by two string methods instead. Anything else (another type, a tab,
    bytes above 0x7e, a line break, a name not seen before) takes gunicorn's own path,
    with its own errors.
    """
    checked = _CHECKED_NAMES
    for name, value in headers:
        lowered = checked.get(name) if type(name) is str else None
        if (
            lowered is None
            or type(value) is not str
            or not (value.isascii() and value.isprintable())
        ):
            _check_headers(self, [(name, value)])  # raises for what gunicorn refuses
            remember = type(name) is str and len(checked) < CHECKED_NAMES_KEPT
            if remember and not gunicorn.util.is_hoppish(name):
                checked[name] = name.lower()
            continue
        value = value.strip(" \t")
        if lowered == "content-length":
            self.response_length = int(value)
        self.headers.append((name, value))


def install() -> None:
    gunicorn.util.write_error = _write_error  # called by the worker for refused requests
    gunicorn.http.wsgi.SERVER = SERVER_NAME  # read by each response's Server header
    gunicorn.http.wsgi.Response.process_headers = process_headers


# How long a worker with no free thread leaves a waiting connection to the other workers,
# and for how long after such a pause it accepts without pausing again: when every worker
# is busy, each pays one short pause a second, not one per connection.
ACCEPT_PAUSE = float(os.environ.get("GUNICORN_ACCEPT_PAUSE_MS", "10")) / 1000
ACCEPT_FREELY_AFTER_PAUSE = 1.0


class DrainingThreadWorker(ThreadWorker):
    """gthread that spreads new connections over the workers and drains on a graceful stop.

    Spreading: a worker whose requests in progress (or queued for a thread) already
    match its thread count stops polling the listener for :data:`ACCEPT_PAUSE` instead of
    accepting; a worker with a free thread takes the connection meanwhile. If it is
    still waiting afterwards, every worker is busy and this one accepts it, as gthread
    would have. Idle keep-alive connections do not count: they hold no thread.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._paused_until = 0.0
        self._accept_freely_until = 0.0

    def busy(self) -> int:
        """Connections this worker holds that are in a thread or waiting for one."""
        return self.nr_conns - len(self.keepalived_conns) - len(self.pending_conns)

    def accept(self, listener: Any) -> None:
        now = time.monotonic()
        if now >= self._accept_freely_until and self.busy() >= self.cfg.threads:
            self._paused_until = now + ACCEPT_PAUSE
            self._accept_freely_until = self._paused_until + ACCEPT_FREELY_AFTER_PAUSE
            super().set_accept_enabled(False)  # run() enables it again after the pause
            return
        super().accept(listener)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        pause_left = self._paused_until - time.monotonic()
        if pause_left > 0:  # wake up when the pause ends, not a whole poll timeout later
            timeout = min(timeout, pause_left)
        super().wait_for_and_dispatch_events(timeout)

    def set_accept_enabled(self, enabled: bool) -> None:
        if enabled and self.alive and time.monotonic() < self._paused_until:
            return
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive:
            for listener in self.sockets:
                listener.close()  # closed again at the end: gunicorn's close is idempotent
