"""The embedded default: gunicorn on a migrated SQLite file with no Redis, over real HTTP.

``make run`` without ``DATABASE_URL``/``REDIS_URL`` must serve the whole catalog; this runs
the same stack (Alembic migrations, gunicorn, production code paths) on a throwaway file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from bookstore import create_app
from bookstore.auth import create_access_token
from bookstore.config import load_config
from bookstore.extensions import db
from tests.conftest import ROOT, TEST_ENV, LiveServer
from tests.factories import Factory

pytestmark = pytest.mark.e2e

MAGAZINE = {
    "title": "Science Weekly",
    "issn": "0317-8471",
    "publisher": "Acme Media",
    "issue_number": 3,
    "publication_date": "2024-03-01",
    "category": "science",
    "price": "4.50",
}


@pytest.fixture(scope="module")
def embedded(tmp_path_factory) -> Iterator[tuple[str, dict[str, str]]]:
    """A gunicorn on a fresh SQLite file (REDIS_URL empty = unset) and an admin's token."""
    url = f"sqlite:///{tmp_path_factory.mktemp('embedded') / 'bookstore.db'}"
    env = {**os.environ, **TEST_ENV, "DATABASE_URL": url, "REDIS_URL": "", "FLASK_APP": "wsgi.py"}
    migrated = subprocess.run(
        [sys.executable, "-m", "flask", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert migrated.returncode == 0, migrated.stderr
    app = create_app(load_config(env))
    with app.app_context():
        admin = Factory().user(role="admin")
        token = create_access_token(admin.id, admin.role)
        db.session.remove()
        db.engine.dispose()
    server = LiveServer(env={"DATABASE_URL": url, "REDIS_URL": ""}).start()
    try:
        yield server.url, {"Authorization": f"Bearer {token}"}
    finally:
        server.stop()


def test_ready_without_redis(embedded):
    base, _ = embedded
    response = requests.get(f"{base}/health/ready", timeout=5)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"status": "up"}


def test_catalog_reads_and_writes_over_http(embedded):
    base, admin = embedded
    http = requests.Session()

    author = http.post(f"{base}/v1/authors", json={"name": "Frank Herbert"}, headers=admin)
    assert author.status_code == 201, author.text
    author_id = author.json()["data"]["id"]
    book = {
        "title": "Dune",
        "isbn": "0-441-17271-7",
        "author_id": author_id,
        "category": "science-fiction",
        "publication_year": 1965,
        "price": 9.99,
        "description": "Spice, sand and 100% prophecy.",
    }
    created = http.post(f"{base}/v1/books", json=book, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["data"]["isbn"] == "9780441172719"
    assert created.headers["Location"] == f"/v1/books/{created.json()['data']['id']}"

    # Search without PostgreSQL falls back to substring matching, author name included.
    found = http.get(f"{base}/v1/books", params={"q": "herbert", "include": "author"}).json()
    assert [item["title"] for item in found["data"]] == ["Dune"]
    assert found["data"][0]["author"]["name"] == "Frank Herbert"
    assert http.get(f"{base}/v1/books", params={"q": "100%"}).json()["pagination"]["total"] == 1

    magazine = http.post(f"{base}/v1/magazines", json=MAGAZINE, headers=admin)
    assert magazine.status_code == 201, magazine.text
    url = base + magazine.headers["Location"]
    listed = http.get(f"{base}/v1/magazines", params={"issn": "03178471", "max_price": "5"})
    assert listed.status_code == 200
    assert listed.headers["Cache-Control"].startswith("public")
    assert [item["price"] for item in listed.json()["data"]] == ["4.50"]

    duplicate = http.post(f"{base}/v1/magazines", json=MAGAZINE, headers=admin)
    assert duplicate.status_code == 409
    error = duplicate.json()["error"]
    assert error["code"] == "DUPLICATE_RESOURCE"
    assert error["details"][0]["field"] == "issue_number"

    etag = http.get(url).headers["ETag"]
    assert http.get(url, headers={"If-None-Match": etag}).status_code == 304
    stale = http.patch(url, json={"stock": 4}, headers={**admin, "If-Match": '"old"'})
    assert stale.status_code == 412
    patched = http.patch(url, json={"stock": 4}, headers={**admin, "If-Match": etag})
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["stock"] == 4

    assert http.post(f"{base}/v1/magazines", json=MAGAZINE).status_code == 401
    assert http.delete(url, headers=admin).status_code == 204
    assert http.get(url).status_code == 404
