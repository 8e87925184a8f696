"""Cross-cutting HTTP behaviour: envelopes, request ids, ETags, CORS, content negotiation."""

from __future__ import annotations

import logging

import pytest

from bookstore import create_app
from tests.helpers import assert_error


def test_request_id_is_echoed_when_sane_and_generated_otherwise(client):
    resp = client.get("/v1", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["X-Request-ID"] == "abc-123"
    assert resp.get_json()["meta"]["request_id"] == "abc-123"
    resp = client.get("/v1", headers={"X-Request-ID": "bad id\twith spaces"})
    assert resp.headers["X-Request-ID"].startswith("req_")
    assert client.get("/v1").headers["X-Request-ID"] != client.get("/v1").headers["X-Request-ID"]


def test_generated_request_ids_differ_between_forked_workers():
    import os
    import re

    from bookstore.web.requests import new_request_id

    new_request_id()  # in use before the fork, as in gunicorn's master
    ids = []
    for _ in range(2):  # two workers forked from the same state
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.write(write, new_request_id().encode())
            os._exit(0)
        os.close(write)
        ids.append(os.read(read, 100).decode())
        os.close(read)
        os.waitpid(pid, 0)
    ids.append(new_request_id())
    assert len(set(ids)) == 3
    assert all(re.fullmatch(r"req_[0-9a-f]{24}", rid) for rid in ids)


def test_unknown_route_is_404_envelope(client):
    assert_error(client.get("/v1/nothing-here"), 404, "RESOURCE_NOT_FOUND")


def test_trailing_slash_is_404_not_redirect(client):
    assert_error(client.get("/v1/books/"), 404, "RESOURCE_NOT_FOUND")


def test_wrong_method_is_405_with_allow(client):
    resp = client.put("/v1/books")
    assert_error(resp, 405, "METHOD_NOT_ALLOWED")
    assert set(resp.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}


def test_non_json_body_is_415(client, admin_headers):
    resp = client.post(
        "/v1/authors",
        data="name=x",
        headers=admin_headers,
        content_type="application/x-www-form-urlencoded",
    )
    assert_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_merge_patch_type_only_on_patch(client, admin_headers):
    resp = client.post(
        "/v1/authors",
        data='{"name": "x"}',
        headers=admin_headers,
        content_type="application/merge-patch+json",
    )
    assert_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("raw", ['{"name": ', "[1, 2]", '"text"', "{'name': 'x'}", "\xff\xfe"])
def test_malformed_or_non_object_json_is_400(client, admin_headers, raw):
    resp = client.post(
        "/v1/authors",
        data=raw.encode("latin-1"),
        headers=admin_headers,
        content_type="application/json",
    )
    code = "INVALID_JSON" if raw not in ("[1, 2]", '"text"') else "VALIDATION_ERROR"
    assert_error(resp, 400, code)


def test_deeply_nested_json_is_400_not_500(client, admin_headers):
    raw = '{"name": ' + "[" * 5000 + "]" * 5000 + "}"
    assert_error(
        client.post(
            "/v1/authors", data=raw, headers=admin_headers, content_type="application/json"
        ),
        400,
        "INVALID_JSON",
    )


def test_body_over_limit_is_413(client, admin_headers):
    big = '{"name": "' + "x" * (1024 * 1024 + 10) + '"}'
    resp = client.post(
        "/v1/authors", data=big, headers=admin_headers, content_type="application/json"
    )
    assert_error(resp, 413, "PAYLOAD_TOO_LARGE")


def test_unexpected_error_is_500_envelope_and_logged_with_request_id(caplog):
    app = create_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    with caplog.at_level(logging.ERROR, logger="bookstore.errors"):
        resp = app.test_client().get("/boom", headers={"X-Request-ID": "trace-me"})
    body = assert_error(resp, 500, "INTERNAL_ERROR")
    assert "secret" not in resp.get_data(as_text=True)
    assert body["error"]["request_id"] == "trace-me"
    record = next(r for r in caplog.records if r.name == "bookstore.errors")
    assert record.request_id == "trace-me" and "secret internals" in caplog.text


def test_a_value_the_database_cannot_hold_is_400_not_500(app, caplog):
    broken = create_app()

    @broken.get("/overflow")
    def overflow():
        from sqlalchemy import text

        from bookstore.extensions import db

        db.session.execute(text("SELECT CAST(:n AS integer)"), {"n": 2**40})

    with caplog.at_level(logging.WARNING, logger="bookstore.errors"):
        resp = broken.test_client().get("/overflow")
    body = assert_error(resp, 400, "VALIDATION_ERROR")
    assert "integer" not in body["error"]["message"]  # no database text leaks out
    assert "data exception from the database" in caplog.text


def test_database_down_is_503(monkeypatch):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": "postgresql://postgres@127.0.0.1:1/none",
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 1}},
        }
    )
    client = app.test_client()
    resp = client.get("/v1/books/1")
    assert_error(resp, 503, "SERVICE_UNAVAILABLE")
    assert resp.headers["Retry-After"]
    ready = client.get("/health/ready")
    assert ready.status_code == 503 and ready.get_json()["checks"]["database"]["status"] == "down"
    assert client.get("/health/live").status_code == 200


class TestETags:
    def test_get_has_strong_etag_and_304(self, client, make):
        book = make.book()
        resp = client.get(f"/v1/books/{book.id}")
        etag = resp.headers["ETag"]
        assert etag.startswith('"') and not etag.startswith("W/")
        assert resp.headers["Cache-Control"].startswith("public, max-age=")
        again = client.get(f"/v1/books/{book.id}", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag

    def test_list_etag_changes_after_write(self, client, admin_headers, make):
        book = make.book()
        first = client.get("/v1/books").headers["ETag"]
        assert client.get("/v1/books", headers={"If-None-Match": first}).status_code == 304
        # A catalog change beyond stock: lists are exact at once (stock alone may lag).
        client.patch(f"/v1/books/{book.id}", json={"title": "Changed"}, headers=admin_headers)
        assert client.get("/v1/books", headers={"If-None-Match": first}).status_code == 200

    def test_the_item_etag_changes_after_a_stock_only_write(self, client, admin_headers, make):
        book = make.book(stock=1)
        first = client.get(f"/v1/books/{book.id}").headers["ETag"]
        client.patch(f"/v1/books/{book.id}", json={"stock": 99}, headers=admin_headers)
        again = client.get(f"/v1/books/{book.id}", headers={"If-None-Match": first})
        assert again.status_code == 200 and again.get_json()["data"]["stock"] == 99

    def test_if_match_mismatch_is_412_and_writes_nothing(self, client, admin_headers, make):
        book = make.book(stock=1)
        resp = client.patch(
            f"/v1/books/{book.id}",
            json={"stock": 50},
            headers={**admin_headers, "If-Match": '"stale"'},
        )
        assert_error(resp, 412, "PRECONDITION_FAILED")
        assert client.get(f"/v1/books/{book.id}").get_json()["data"]["stock"] == 1
        resp = client.delete(
            f"/v1/books/{book.id}", headers={**admin_headers, "If-Match": '"stale"'}
        )
        assert_error(resp, 412, "PRECONDITION_FAILED")

    def test_if_match_current_etag_succeeds(self, client, admin_headers, make):
        book = make.book(stock=1)
        etag = client.get(f"/v1/books/{book.id}").headers["ETag"]
        resp = client.patch(
            f"/v1/books/{book.id}", json={"stock": 2}, headers={**admin_headers, "If-Match": etag}
        )
        assert resp.status_code == 200 and resp.headers["ETag"] != etag
        stale = client.patch(
            f"/v1/books/{book.id}", json={"stock": 3}, headers={**admin_headers, "If-Match": etag}
        )
        assert_error(stale, 412, "PRECONDITION_FAILED")

    def test_if_match_compares_strongly_and_if_none_match_weakly(self, client, admin_headers, make):
        book = make.book(stock=1)
        etag = client.get(f"/v1/books/{book.id}").headers["ETag"]
        weak = client.get(f"/v1/books/{book.id}", headers={"If-None-Match": f"W/{etag}"})
        assert weak.status_code == 304
        resp = client.patch(
            f"/v1/books/{book.id}",
            json={"stock": 2},
            headers={**admin_headers, "If-Match": f"W/{etag}"},
        )
        assert_error(resp, 412, "PRECONDITION_FAILED")


class TestCORS:
    def test_preflight_from_allowed_origin(self, app):
        app.config["CORS_ORIGINS"] = ["http://shop.example"]
        fresh = create_app({"CORS_ORIGINS": ["http://shop.example"]})
        resp = fresh.test_client().options(
            "/v1/books",
            headers={
                "Origin": "http://shop.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization, Content-Type, Idempotency-Key",
            },
        )
        assert resp.status_code == 204
        assert resp.headers["Access-Control-Allow-Origin"] == "http://shop.example"
        assert resp.headers["Access-Control-Max-Age"] == "600"
        assert "idempotency-key" in resp.headers["Access-Control-Allow-Headers"].lower()

    def test_exposed_headers_on_actual_request(self):
        fresh = create_app({"CORS_ORIGINS": ["http://shop.example"]})
        resp = fresh.test_client().get("/v1", headers={"Origin": "http://shop.example"})
        exposed = {
            h.strip().lower() for h in resp.headers["Access-Control-Expose-Headers"].split(",")
        }
        assert {
            "x-request-id",
            "etag",
            "link",
            "location",
            "x-ratelimit-remaining",
            "retry-after",
        } <= exposed

    def test_disallowed_origin_gets_no_cors_headers(self):
        fresh = create_app({"CORS_ORIGINS": ["http://shop.example"]})
        resp = fresh.test_client().get("/v1", headers={"Origin": "http://evil.example"})
        assert "Access-Control-Allow-Origin" not in resp.headers


def test_the_app_answers_with_its_own_response_class(client):
    from bookstore.web.responses import Response

    assert client.application.response_class is Response
    assert int(client.get("/v1/nothing-here").headers["Content-Length"]) > 0


def test_every_header_reaches_the_client_once(client):
    response = client.get("/v1/nothing-here")
    names = [name.lower() for name, _ in response.headers]
    assert len(names) == len(set(names))
    for name in ("x-request-id", "x-content-type-options", "content-security-policy"):
        assert name in names


@pytest.mark.parametrize(
    "make_body",
    [
        lambda: b'{"a":1}',
        lambda: '{"a":"\u00e9"}',
        lambda: [b'{"a"', b":1}"],
        lambda: iter([b"{}"]),
    ],
)
def test_body_bytes_is_what_get_data_gives(make_body):
    from bookstore.web.responses import Response

    assert Response(make_body()).body_bytes() == Response(make_body()).get_data()
