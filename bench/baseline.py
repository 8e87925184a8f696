"""The bare baseline: Flask + psycopg2, no ORM, no validation, the same book JSON.

Served by the same gunicorn configuration as the API, so the benchmark reports our
``GET /v1/books/{id}`` as a ratio of this floor.
"""

from __future__ import annotations

import datetime as dt
import os
from contextlib import contextmanager

import orjson
from flask import Flask, Response, request
from psycopg2.pool import ThreadedConnectionPool

app = Flask(__name__)
_threads = int(os.environ.get("GUNICORN_THREADS", "4"))
_pool: ThreadedConnectionPool | None = None
COLUMNS = (
    "SELECT id, title, isbn, author_id, category, publication_year, price, stock, description,"
    " created_at, updated_at FROM books"
)
SQL = COLUMNS + " WHERE id = %s"
PAGE_SQL = COLUMNS + " WHERE id > %s ORDER BY id LIMIT %s"
PER_PAGE = 20
JSON_TYPE = "application/json; charset=utf-8"


@contextmanager
def connection():
    global _pool
    if _pool is None:
        # minconn == maxconn: psycopg2's pool closes connections returned above minconn.
        _pool = ThreadedConnectionPool(_threads, _threads, os.environ["DATABASE_URL"])
    conn = _pool.getconn()
    try:
        yield conn
    finally:
        conn.rollback()
        _pool.putconn(conn)


def _ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _book(row: tuple) -> dict:
    return {
        "id": row[0],
        "title": row[1],
        "isbn": row[2],
        "author_id": row[3],
        "category": row[4],
        "publication_year": row[5],
        "price": f"{row[6]:.2f}",
        "stock": row[7],
        "description": row[8],
        "created_at": _ts(row[9]),
        "updated_at": _ts(row[10]),
        "_links": {"self": f"/v1/books/{row[0]}", "author": f"/v1/authors/{row[3]}"},
    }


def _json(value: object, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status=status, content_type=JSON_TYPE)


@app.get("/v1/books/<int:book_id>")
def get_book(book_id: int) -> Response:
    with connection() as conn, conn.cursor() as cur:
        cur.execute(SQL, (book_id,))
        row = cur.fetchone()
    if row is None:
        return _json({"error": "not found"}, 404)
    return _json({"data": _book(row)})


@app.get("/v1/books")
def list_books() -> Response:
    """A keyset page: the 20 books after ``?after=<id>`` (default: from the start)."""
    after = request.args.get("after", 0, type=int)
    with connection() as conn, conn.cursor() as cur:
        cur.execute(PAGE_SQL, (after, PER_PAGE))
        rows = cur.fetchall()
    return _json({"data": [_book(row) for row in rows]})
