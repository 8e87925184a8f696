"""bookstore.serving.workers's response-header check: gunicorn's results and gunicorn's errors."""

from __future__ import annotations

import pytest
from gunicorn.http import wsgi

from bookstore.serving import workers as serving

ACCEPTED = [
    [("Content-Type", "application/json"), ("Content-Length", " 420 "), ("ETag", '"x"')],
    [("X-Tab", "a\tb"), ("X-Obs-Text", "caf\xe9"), ("X-Empty", ""), ("X-Space", " padded ")],
    [("Connection", "upgrade"), ("Upgrade", "websocket"), ("Keep-Alive", "timeout=5")],
    [("Transfer-Encoding", "chunked"), ("content-length", "7"), ("X-RateLimit-Limit", "300")],
]
REFUSED = [
    [("Bad Name", "x")],
    [("X-Known", "a\r\nInjected: 1")],
    [("X-Known", "nul\x00")],
    [("X-Known", "del\x7f")],
    [(b"X-Known", "bytes name")],
    [("X-Known", 5)],
    [("X-Known", "fine"), ("", "empty name")],
]


def _response() -> wsgi.Response:
    response = wsgi.Response.__new__(wsgi.Response)  # only what header processing uses
    response.headers, response.response_length, response.upgrade = [], None, False
    return response


def _outcome(check, headers):
    response = _response()
    check(response, headers)
    return response.headers, response.response_length, response.upgrade


@pytest.mark.parametrize("headers", ACCEPTED)
def test_headers_come_out_as_gunicorn_makes_them(headers):
    for _ in range(2):  # the names unknown, then remembered
        assert _outcome(serving.process_headers, headers) == _outcome(
            serving._check_headers, headers
        )


@pytest.mark.parametrize("headers", REFUSED)
def test_headers_gunicorn_refuses_are_refused_alike(headers):
    serving.process_headers(_response(), [("X-Known", "fine")])  # a name seen before
    with pytest.raises(Exception) as theirs:
        serving._check_headers(_response(), headers)
    with pytest.raises(type(theirs.value)):
        serving.process_headers(_response(), headers)


def test_hop_by_hop_names_are_never_remembered():
    serving.process_headers(_response(), [("Connection", "close"), ("Keep-Alive", "5")])
    assert "Connection" not in serving._CHECKED_NAMES
    assert "Keep-Alive" not in serving._CHECKED_NAMES


def test_install_puts_it_in_gunicorn():
    serving.install()
    assert wsgi.Response.process_headers is serving.process_headers
