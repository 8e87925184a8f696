"""The HTTP edge over a real gunicorn: malformed framing, conditional writes, CORS.

Raw sockets send what no HTTP client library would: bad chunk sizes, Content-Length
together with Transfer-Encoding, two or a negative Content-Length, a body cut short.
Each gets one 400 in the error envelope with the app's security headers, and nothing
else on the connection (no second answer, no 500). If-Match compares strongly (a
weak tag never matches); CORS answers only an allowed Origin, with one ``Vary: Origin``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import requests

from bookstore.web.headers import security_headers
from tests.conftest import LiveServer

pytestmark = pytest.mark.e2e

SHOP = "https://shop.example"
HARDENED = dict(security_headers(0))


@pytest.fixture(scope="module")
def server(app) -> Iterator[LiveServer]:
    live = LiveServer(workers=1, env={"CORS_ORIGINS": SHOP, "ACCESS_LOG": "-"}).start()
    yield live
    live.stop()


def exchange(server: LiveServer, raw: bytes, *, half_close: bool = False) -> bytes:
    """Send ``raw`` and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def only_answer(received: bytes) -> tuple[int, dict[str, list[str]], bytes]:
    """The status, headers and body of the one response in ``received`` (and no other)."""
    head, _, rest = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    length = int(headers["content-length"][0])
    assert rest[length:] == b"", f"a second answer followed: {rest[length:]!r}"
    return int(status_line.split()[1]), headers, rest[:length]


def assert_envelope_400(received: bytes) -> dict[str, list[str]]:
    status, headers, body = only_answer(received)
    assert status == 400, received
    error = json.loads(body)["error"]
    assert error["code"] == "VALIDATION_ERROR" and error["status"] == 400
    assert headers["x-request-id"] == [error["request_id"]]
    assert headers["content-type"] == ["application/json; charset=utf-8"]
    assert "no-store" in headers["cache-control"][0]
    for name, value in HARDENED.items():
        assert headers[name.lower()] == [value], name
    return headers


def post(path: str, framing: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}{framing}\r\n"
    ).encode() + body


BAD_CHUNKS = {
    "a chunk size that is not hex": b"zz\r\n{}\r\n0\r\n\r\n",
    "a chunk with no terminator": b"2\r\n{}XX0\r\n\r\n",
    "a negative chunk size": b"-2\r\n{}\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("body", BAD_CHUNKS.values(), ids=BAD_CHUNKS.keys())
@pytest.mark.parametrize(
    "path",
    [
        "/v1/auth/login",  # reads the body: gunicorn raises inside the app
        "/v1/authors",  # 401 before the body is read: gunicorn raises as it drains it
    ],
)
def test_a_malformed_chunked_body_gets_one_answer_never_a_500(server, path, body):
    raw = post(path, "Transfer-Encoding: chunked\r\n", body)
    status, _, payload = only_answer(exchange(server, raw))
    assert status in (400, 401), payload
    if path == "/v1/auth/login":
        assert_envelope_400(exchange(server, raw))


def test_a_body_shorter_than_its_content_length_is_400(server):
    raw = post("/v1/auth/login", "Content-Length: 100\r\n", b'{"email": ')
    assert_envelope_400(exchange(server, raw, half_close=True))


CONFLICTING = {
    "Content-Length and Transfer-Encoding": "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n",
    "two Content-Length": "Content-Length: 2\r\nContent-Length: 3\r\n",
    "a negative Content-Length": "Content-Length: -1\r\n",
    "an unknown Transfer-Encoding": "Transfer-Encoding: gzip, chunked\r\n",
}


@pytest.mark.parametrize("framing", CONFLICTING.values(), ids=CONFLICTING.keys())
def test_conflicting_framing_is_refused_in_the_envelope_and_logged(server, framing):
    raw = post("/v1/auth/login", framing, b"{}\r\n0\r\n\r\n")
    headers = assert_envelope_400(exchange(server, raw))
    assert headers["connection"] == ["close"]
    request_id = headers["x-request-id"][0]
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if request_id in line]
    assert any(line.get("status") == 400 for line in lines), lines  # the access-log line


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"GET /v1?" + b"q" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "URI_TOO_LONG"),
        (
            b"GET /v1 HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 120 + b"\r\n",
            431,
            "REQUEST_HEADERS_TOO_LARGE",
        ),
        (b"GET /v1 HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", 400, "VALIDATION_ERROR"),
    ],
)
def test_what_gunicorn_refuses_carries_the_apps_security_headers(server, raw, status, code):
    got, headers, body = only_answer(exchange(server, raw))
    assert got == status and json.loads(body)["error"]["code"] == code
    for name, value in HARDENED.items():
        assert headers[name.lower()] == [value], name
    assert "gunicorn" not in body.decode().lower()


class TestIfMatch:
    def test_a_weak_tag_never_satisfies_if_match(self, server, make, admin_headers):
        book = make.book(stock=1)
        url = f"{server.url}/v1/books/{book.id}"
        etag = requests.get(url, timeout=5).headers["ETag"]
        for weak in (f"W/{etag}", f'"other", W/{etag}'):
            answer = requests.patch(
                url, json={"stock": 7}, headers={**admin_headers, "If-Match": weak}, timeout=5
            )
            assert answer.status_code == 412, answer.text
            assert answer.json()["error"]["code"] == "PRECONDITION_FAILED"
        assert requests.get(url, timeout=5).json()["data"]["stock"] == 1
        answer = requests.patch(
            url, json={"stock": 7}, headers={**admin_headers, "If-Match": etag}, timeout=5
        )
        assert answer.status_code == 200, answer.text

    def test_if_none_match_still_compares_weakly(self, server, make):
        book = make.book()
        url = f"{server.url}/v1/books/{book.id}"
        etag = requests.get(url, timeout=5).headers["ETag"]
        assert (
            requests.get(url, headers={"If-None-Match": f"W/{etag}"}, timeout=5).status_code == 304
        )


def vary(answer: requests.Response) -> list[str]:
    # requests joins repeated fields with ", ": split them again.
    return [v.strip().lower() for v in answer.headers.get("Vary", "").split(",") if v.strip()]


class TestCORS:
    @pytest.mark.parametrize("path", ["/v1", "/v1/nowhere", "/v1/authors/0"])
    def test_no_origin_gets_no_cors_headers(self, server, path):
        answer = requests.get(server.url + path, timeout=5)
        assert not [h for h in answer.headers if h.lower().startswith("access-control-")]
        assert vary(answer).count("origin") == 1

    @pytest.mark.parametrize("path", ["/v1", "/v1/nowhere", "/v1/books"])
    def test_an_allowed_origin_gets_them_with_one_vary(self, server, path):
        answer = requests.get(server.url + path, headers={"Origin": SHOP}, timeout=5)
        assert answer.headers["Access-Control-Allow-Origin"] == SHOP
        assert vary(answer).count("origin") == 1

    def test_another_origin_gets_none(self, server):
        answer = requests.get(
            server.url + "/v1", headers={"Origin": "https://evil.example"}, timeout=5
        )
        assert "Access-Control-Allow-Origin" not in answer.headers

    def test_options_without_origin_is_204_with_allow(self, server):
        answer = requests.options(server.url + "/v1/books", timeout=5)
        assert answer.status_code == 204 and answer.content == b""
        assert set(answer.headers["Allow"].split(", ")) >= {"GET", "POST", "OPTIONS"}
        assert "text/html" not in answer.headers.get("Content-Type", "")
        assert "Access-Control-Allow-Origin" not in answer.headers

    def test_a_preflight_from_the_allowed_origin(self, server):
        answer = requests.options(
            server.url + "/v1/books",
            headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"},
            timeout=5,
        )
        assert answer.status_code == 204
        assert answer.headers["Access-Control-Allow-Origin"] == SHOP
        assert "POST" in answer.headers["Access-Control-Allow-Methods"]
        assert vary(answer).count("origin") == 1
