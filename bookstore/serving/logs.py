"""Structured JSON logs for the app and for gunicorn's access log, all carrying request ids."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Any

import orjson

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if "request_id" not in record.__dict__:
            entry["request_id"] = _current_request_id()
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def _current_request_id() -> str | None:
    from flask import has_request_context, request

    return request.environ.get("bookstore.request_id") if has_request_context() else None


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    # Replace plain console handlers only; capture handlers (pytest's caplog) stay.
    root.handlers = [h for h in root.handlers if type(h) is not logging.StreamHandler]
    root.addHandler(handler)
    root.setLevel(level)


try:
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover - gunicorn is a runtime dependency
    _GunicornLogger = object  # type: ignore[assignment,misc]


class GunicornJsonLogger(_GunicornLogger):  # type: ignore[misc,valid-type]
    """gunicorn's logger with one JSON line per request and JSON error-log lines."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not (self.cfg.accesslog or self.cfg.logconfig or self.cfg.syslog):
            return
        try:
            entry = access_entry(resp, environ, request_time)
        except Exception:  # a log line must never cost the client its answer
            self.error_log.warning("no access-log line for a response", exc_info=True)
            return
        self.access_log.info("request", extra=entry)


def status_of(resp: Any) -> int | None:
    """The status code; a response gunicorn built for a refused request has only ``status``."""
    code = getattr(resp, "status_code", None)
    if isinstance(code, int):
        return code
    head = str(getattr(resp, "status", None) or "").split(" ", 1)[0]
    return int(head) if head.isdigit() else None


def access_entry(resp: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
    # The app keeps the id it sent in X-Request-ID in the environ (bookstore.web.requests).
    request_id = environ.get("bookstore.request_id") or next(
        (
            value
            for name, value in getattr(resp, "headers", None) or ()
            if name.lower() == "x-request-id"
        ),
        None,
    )
    return {
        "method": environ.get("REQUEST_METHOD"),
        "path": environ.get("PATH_INFO"),
        "query": environ.get("QUERY_STRING") or None,
        "status": status_of(resp),
        "duration_ms": round(request_time.total_seconds() * 1000, 2),
        "bytes": getattr(resp, "sent", None),
        "request_id": request_id,
        "remote_addr": environ.get("REMOTE_ADDR"),
        "user_agent": environ.get("HTTP_USER_AGENT"),
    }
