"""API4:2023 Unrestricted Resource Consumption: sizes, depths and counts are all bounded.

Huge pages, deep includes, long query strings, giant or chunked bodies, many headers:
each is refused with a clear 4xx in the error envelope before it costs anything. The
HTTP-level limits are checked against a real gunicorn. Also proven elsewhere: deeply
nested JSON is 400 (tests/web/test_http.py::test_deeply_nested_json_is_400_not_500), request
rates are limited (tests/redis/test_ratelimit.py), lists cost a constant number of queries
(tests/pagination/test_lists.py, tests/api/test_orders_list.py), a password over 72 bytes never
reaches bcrypt (tests/auth/test_passwords.py).
"""

from __future__ import annotations

import json
import socket

import pytest
import requests

from tests.conftest import LiveServer
from tests.ordering import order_body, scalar
from tests.sessions import assert_error

LISTS = ["/v1/books", "/v1/authors", "/v1/magazines", "/v1/orders", "/v1/users", "/v1/webhooks"]
MEBIBYTE = 1024 * 1024


@pytest.fixture(scope="module")
def server(app):
    live = LiveServer(workers=1).start()
    yield live
    live.stop()


def envelope(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    error = response.json()["error"]
    assert error["code"] == code and error["request_id"] == response.headers["X-Request-ID"]
    return error


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    "query", ["per_page=101", "per_page=1000000000000", "per_page=0", "page=1000001", "page=-1"]
)
def test_page_sizes_and_numbers_are_bounded_on_every_list(client, admin, path, query):
    response = client.get(f"{path}?{query}", headers=admin.headers)
    error = assert_error(response, 400, "INVALID_QUERY_PARAMETER")
    assert error["details"][0]["field"] in {"per_page", "page"}


@pytest.mark.parametrize(
    "include", ["author.books", "author,author", "author.books.author", "books", "*", "orders"]
)
def test_include_is_one_documented_level_only(client, book, include):
    for url in (f"/v1/books?include={include}", f"/v1/books/{book.id}?include={include}"):
        error = assert_error(client.get(url), 400, "INVALID_QUERY_PARAMETER")
        assert error["details"][0]["field"] == "include"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("fields=" + ",".join(f"f{n}" for n in range(2000)), "fields"),
        ("sort=" + ",".join(["title"] * 100), "sort"),
        ("q=" + "x" * 201, "q"),
        ("cursor=" + "A" * 2001, "cursor"),
    ],
)
def test_long_list_parameters_are_refused(client, query, field):
    error = assert_error(client.get(f"/v1/books?{query}"), 400, "INVALID_QUERY_PARAMETER")
    assert error["details"][0]["field"] == field


def test_an_order_is_bounded_in_lines_and_quantity(client, alice, make):
    books = [make.book(stock=1000) for _ in range(51)]
    too_many = order_body(*[(b.id, 1) for b in books])
    too_much = order_body((books[0].id, 101))
    for body in (too_many, too_much):
        assert_error(
            client.post("/v1/orders", json=body, headers=alice.with_key()), 400, "VALIDATION_ERROR"
        )
    assert scalar("SELECT count(*) FROM orders") == 0


def test_a_wide_json_object_gets_a_bounded_answer(client, admin):
    wide = json.dumps({f"k{n}": n for n in range(50_000)})
    assert len(wide) < MEBIBYTE
    error = assert_error(
        client.post(
            "/v1/authors", data=wide, headers=admin.headers, content_type="application/json"
        ),
        400,
        "VALIDATION_ERROR",
    )
    # Not one detail per key: the answer stays small whatever the body holds.
    assert len(error["details"]) == 100 and "100 of 50001" in error["message"]
    long_key = client.post(
        "/v1/authors", json={"k" * 100_000: 1, "name": "A"}, headers=admin.headers
    )
    field = assert_error(long_key, 400, "VALIDATION_ERROR")["details"][0]["field"]
    assert len(field) <= 203


# -- over HTTP: what the server itself bounds -----------------------------------------


@pytest.mark.e2e
def test_a_body_over_the_limit_is_413_with_or_without_content_length(server, admin):
    url = server.url + "/v1/authors"
    headers = {**admin.headers, "Content-Type": "application/json"}
    # Valid JSON followed by padding: cut at the limit, it would parse and be created.
    padded = b'{"name": "Padded"}' + b" " * (2 * MEBIBYTE)
    envelope(requests.post(url, data=padded, headers=headers, timeout=30), 413, "PAYLOAD_TOO_LARGE")

    def chunks():  # no Content-Length: Transfer-Encoding: chunked
        yield padded[:1000]
        for start in range(1000, len(padded), 64 * 1024):
            yield padded[start : start + 64 * 1024]

    chunked = requests.post(url, data=chunks(), headers=headers, timeout=30)
    envelope(chunked, 413, "PAYLOAD_TOO_LARGE")
    small = requests.post(url, data=iter([b'{"name": "Chunked"}']), headers=headers, timeout=10)
    assert small.status_code == 201, small.text
    names = [a["name"] for a in requests.get(url, timeout=10).json()["data"]]
    assert names == ["Chunked"]


@pytest.mark.e2e
def test_a_content_length_over_the_limit_is_refused_before_the_body_is_read(server):
    # Raw HTTP: a client library would correct the lying Content-Length.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000000\r\n\r\n{}"
        )
        reply = b""
        while b"}}" not in reply and (chunk := sock.recv(65536)):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), reply
    assert json.loads(body)["error"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.e2e
def test_an_overlong_url_is_414_in_the_envelope(server):
    response = requests.get(f"{server.url}/v1/books?q={'x' * 9000}", timeout=10)
    error = envelope(response, 414, "URI_TOO_LONG")
    assert "xxxx" not in error["message"]  # the request is not echoed


@pytest.mark.e2e
@pytest.mark.parametrize(
    "headers",
    [
        {f"X-Filler-{n}": "1" for n in range(101)},  # over 100 header fields
        {"X-Filler": "y" * 9000},  # one header over 8190 bytes
    ],
)
def test_too_many_or_too_large_headers_are_431_in_the_envelope(server, headers):
    response = requests.get(server.url + "/v1/books", headers=headers, timeout=10)
    envelope(response, 431, "REQUEST_HEADERS_TOO_LARGE")
    assert requests.get(server.url + "/health/live", timeout=5).status_code == 200
