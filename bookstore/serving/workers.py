"""The gthread worker, with the contract's envelope for requests gunicorn refuses.

Named in gunicorn.conf.py (``worker_class``). It extends gunicorn through public methods
of its worker classes only:

- :meth:`BookstoreWorker.handle_error` answers a request gunicorn refuses before the app
  sees it (malformed HTTP, conflicting framing, a request line over 8190 bytes, too many
  or too large headers) with the JSON error envelope, a request id and the app's security
  headers, instead of gunicorn's HTML page that echoes parts of the request.
- :meth:`BookstoreWorker.set_accept_enabled` closes the listening sockets as soon as a
  graceful stop begins: new connections are refused (a balancer retries elsewhere) while
  in-flight requests finish, instead of queueing in a backlog nobody accepts any more.
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import weakref
from typing import Any

from gunicorn import util
from gunicorn.http import errors
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers.gthread import ThreadWorker

from bookstore.web.headers import security_headers
from bookstore.web.requests import new_request_id
from bookstore.web.responses import JSON_TYPE, error_body

# Fixed messages: gunicorn's own would echo parts of the request, which may hold secrets.
INVALID = (400, "Bad Request", "VALIDATION_ERROR", "The request is not valid HTTP")
INTERNAL = (500, "Internal Server Error", "INTERNAL_ERROR", "An unexpected error occurred")
REFUSALS: tuple[tuple[tuple[type[BaseException], ...], tuple[int, str, str, str]], ...] = (
    # A header the app tried to send is the app's fault (a subclass of InvalidHeader).
    ((errors.InvalidResponseHeader, errors.InvalidResponseHeaderName), INTERNAL),
    (
        (errors.LimitRequestLine,),
        (414, "URI Too Long", "URI_TOO_LONG", "The request line is longer than 8190 bytes"),
    ),
    (
        (errors.LimitRequestHeaders,),
        (
            431,
            "Request Header Fields Too Large",
            "REQUEST_HEADERS_TOO_LARGE",
            "Too many request headers, or one longer than 8190 bytes",
        ),
    ),
    (
        (errors.ExpectationFailed,),
        (417, "Expectation Failed", "EXPECTATION_FAILED", "The Expect header cannot be met"),
    ),
    (
        (errors.UnsupportedTransferCoding,),
        (501, "Not Implemented", "NOT_IMPLEMENTED", "The transfer coding is not supported"),
    ),
    (
        (errors.ForbiddenProxyRequest, ssl.SSLError),
        (403, "Forbidden", "INSUFFICIENT_PERMISSIONS", "The request was refused"),
    ),
    ((errors.ConfigurationProblem,), INTERNAL),
    ((errors.ParseException,), INVALID),
)


def refusal(exc: BaseException) -> tuple[int, str, str, str]:
    """``(status, reason, code, message)`` for an exception gunicorn hands its worker."""
    for classes, answer in REFUSALS:
        if isinstance(exc, classes):
            return answer
    return INTERNAL


def error_response(
    status: int, reason: str, code: str, message: str, headers: list[tuple[str, str]]
) -> tuple[str, bytes]:
    """The request id and the whole HTTP response for a request gunicorn refused."""
    request_id = new_request_id()
    body = error_body(status, code, message, [], request_id)
    head = [
        f"HTTP/1.1 {status} {reason}",
        "Connection: close",
        f"Date: {util.http_date()}",
        f"Content-Type: {JSON_TYPE}",
        f"Content-Length: {len(body)}",
        f"X-Request-ID: {request_id}",
        "Cache-Control: no-store",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return request_id, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class BookstoreWorker(ThreadWorker):
    """gthread, answering refused requests in the envelope and draining on a graceful stop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.security_headers = security_headers(0)
        # The request each thread last answered: an error raised while gunicorn drains
        # that request's unread body comes after a complete answer, and gets no other.
        self.answered = threading.local()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        config = getattr(self.wsgi, "config", None) or {}
        self.security_headers = security_headers(config.get("HSTS_SECONDS", 0))

    def handle_request(self, req: Any, conn: Any) -> Any:
        self.answered.req = None
        keepalive = super().handle_request(req, conn)
        self.answered.req = weakref.ref(req)
        return keepalive

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        answered = getattr(self.answered, "req", None)
        if req is not None and answered is not None and answered() is req:
            self.log.debug("%s after the answer; the connection closes", type(exc).__name__)
            return
        status, reason, code, message = refusal(exc)
        request_id, payload = error_response(status, reason, code, message, self.security_headers)
        addr = addr or ("", -1)  # a unix socket
        if status >= 500:
            self.log.error(
                "error handling a request", exc_info=exc, extra={"request_id": request_id}
            )
        else:
            # The class only: gunicorn's message quotes the request.
            self.log.warning(
                "refused a request: %s",
                type(exc).__name__,
                extra={"request_id": request_id, "status": status, "remote_addr": addr[0]},
            )
        req = req or getattr(exc, "req", None)  # set on framing errors, for the access log
        if req is not None:
            self.log_refusal(req, client, addr, status, reason, request_id, len(payload))
        try:
            util.write_nonblock(client, payload)
        except OSError:
            self.log.debug("the refused client is gone")

    def log_refusal(
        self,
        req: Any,
        client: Any,
        addr: Any,
        status: int,
        reason: str,
        request_id: str,
        sent: int,
    ) -> None:
        """The access-log line gunicorn writes for a refused request it parsed."""
        environ = default_environ(req, client, self.cfg)
        environ.update(REMOTE_ADDR=addr[0], REMOTE_PORT=str(addr[1]))
        environ["bookstore.request_id"] = request_id
        resp = Response(req, client, self.cfg)
        resp.status = f"{status} {reason}"
        resp.status_code = status
        resp.sent = sent
        self.log.access(resp, req, environ, dt.timedelta(0))

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive:  # the stop began: refuse new connections now
            for listener in self.sockets:
                listener.close()  # closed again at the end: gunicorn's close is idempotent
