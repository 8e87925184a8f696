"""gunicorn's access log in JSON: one line per answer, and never an exception instead.

gunicorn's worker builds a response with only ``status`` for the requests it refuses
(conflicting framing, a bad header) and logs it before it writes the answer: a logger
that raised there cost the client its answer and the operator the log line.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from gunicorn.config import Config
from gunicorn.http.wsgi import Response

from bookstore.serving.logs import GunicornJsonLogger


@pytest.fixture
def access_log():
    cfg = Config()
    cfg.set("accesslog", "-")
    logger = GunicornJsonLogger(cfg)
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(logger.access_log.handlers[0].formatter.format(record))

    logger.access_log.addHandler(Capture())
    return logger, lines


def test_a_refusal_with_only_a_status_line_is_logged_with_its_status(access_log):
    logger, lines = access_log
    resp = Response(req=None, sock=None, cfg=logger.cfg)
    resp.status = "400 Bad Request"  # what gunicorn's handle_error sets, and nothing else
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/v1/x", "bookstore.request_id": "r1"}
    logger.access(resp, None, environ, dt.timedelta(milliseconds=3))
    entry = json.loads(lines[-1])
    assert entry["status"] == 400 and entry["request_id"] == "r1" and entry["path"] == "/v1/x"


@pytest.mark.parametrize("resp", [object(), Response(req=None, sock=None, cfg=Config())])
def test_a_response_without_any_status_is_logged_without_one(access_log, resp):
    logger, lines = access_log
    logger.access(resp, None, {}, dt.timedelta(0))
    assert json.loads(lines[-1])["status"] is None


def test_a_line_that_cannot_be_built_is_reported_not_raised(access_log, caplog):
    logger, lines = access_log
    logger.error_log.propagate = True
    with caplog.at_level(logging.WARNING, logger="gunicorn.error"):
        logger.access(object(), None, {}, request_time=None)  # no duration to read
    assert lines == [] and "no access-log line" in caplog.text
