"""gunicorn settings, every one from the environment with a production-sane default.

Worker class: ``gthread``. Threaded workers keep HTTP keep-alive connections (browsers,
Postman, load balancers) open instead of reconnecting per request as sync workers do,
and a slow client does not pin a whole process. Each worker's database pool is sized to
its thread count (see bookstore/config.py) so connections are reused, never reopened.
"""

import multiprocessing
import os

bind = (
    os.environ.get("BIND")
    or f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
)
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "0"))
# Trust X-Forwarded-* only from these addresses (the load balancer in front).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_line = 8190
limit_request_fields = 100
preload_app = False
accesslog = os.environ.get("ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
logger_class = "bookstore.logging.GunicornJsonLogger"
# gunicorn's control socket defaults to one path per user, shared by every instance on
# the host; this service is managed by signals and its process supervisor instead.
control_socket_disable = True


# -- the HTTP server's own answers ---------------------------------------------------
# Requests gunicorn refuses before the app sees them (a request line over 8190 bytes, too
# many or too large headers, a malformed request) get the contract's JSON error envelope
# instead of gunicorn's HTML page, and no response names the server software.
import gunicorn.http.wsgi  # noqa: E402
import gunicorn.util  # noqa: E402

gunicorn.http.wsgi.SERVER = "bookstore"

# Fixed messages: gunicorn's own would echo parts of the request, which may hold secrets.
_SERVER_ERRORS = {
    400: ("VALIDATION_ERROR", "The request is not valid HTTP"),
    403: ("INSUFFICIENT_PERMISSIONS", "The request was refused"),
    414: ("URI_TOO_LONG", "The request line is longer than 8190 bytes"),
    417: ("EXPECTATION_FAILED", "The Expect header cannot be met"),
    431: ("REQUEST_HEADERS_TOO_LARGE", "Too many request headers, or one longer than 8190 bytes"),
    501: ("NOT_IMPLEMENTED", "The transfer coding is not supported"),
}


def _write_json_error(sock, status_int, reason, mesg):
    import json

    request_id = "req_" + os.urandom(12).hex()
    code, message = _SERVER_ERRORS.get(
        status_int, ("INTERNAL_ERROR", "An unexpected error occurred")
    )
    error = {"status": status_int, "code": code, "message": message, "details": []}
    envelope = {"error": {**error, "request_id": request_id}}
    body = json.dumps(envelope, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n\r\n"
    )
    gunicorn.util.write_nonblock(sock, head.encode("latin-1") + body)


gunicorn.util.write_error = _write_json_error
