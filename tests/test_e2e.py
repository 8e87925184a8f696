"""End to end over HTTP against a real multi-worker gunicorn with the production config."""

from __future__ import annotations

import json

import pytest
import requests

pytestmark = pytest.mark.e2e


def test_catalog_over_http(live_server, make, admin_headers):
    author = make.author(name="N. K. Jemisin")
    resp = requests.post(
        f"{live_server.url}/v1/books",
        headers=admin_headers,
        timeout=5,
        json={
            "title": "The Fifth Season",
            "isbn": "9780316229296",
            "author_id": author.id,
            "category": "fantasy",
            "publication_year": 2015,
            "price": "15.99",
        },
    )
    assert resp.status_code == 201, resp.text
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    location = resp.headers["Location"]
    got = requests.get(live_server.url + location, timeout=5)
    assert got.json()["data"]["title"] == "The Fifth Season"
    cached = requests.get(
        live_server.url + location, timeout=5, headers={"If-None-Match": got.headers["ETag"]}
    )
    assert cached.status_code == 304


def test_access_log_is_json_with_request_id(live_server):
    requests.get(
        f"{live_server.url}/v1/books?per_page=1", headers={"X-Request-ID": "e2e-log-1"}, timeout=5
    )
    for _ in range(50):
        lines = [
            json.loads(line)
            for line in live_server.log.read_text().splitlines()
            if line.startswith("{")
        ]
        entries = [e for e in lines if e.get("request_id") == "e2e-log-1"]
        if entries:
            break
        import time

        time.sleep(0.1)
    entry = entries[0]
    assert entry["method"] == "GET" and entry["path"] == "/v1/books" and entry["status"] == 200
    assert entry["duration_ms"] >= 0


def test_errors_over_http_are_envelopes(live_server):
    resp = requests.delete(f"{live_server.url}/v1/books", timeout=5)
    assert resp.status_code == 405 and resp.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    resp = requests.get(f"{live_server.url}/v1/books?per_page=500", timeout=5)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "INVALID_QUERY_PARAMETER"
