"""Offset pages count exactly up to PAGINATION_COUNT_LIMIT, then take the planner's estimate."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import event, select

from bookstore.config import ConfigError, load_config
from bookstore.db.reads import engines, read_connection
from bookstore.extensions import db
from bookstore.models import Book
from bookstore.pagination import counting
from tests.conftest import QueryCounter


@pytest.fixture
def twelve(make):
    author = make.author()
    return [make.book(author_id=author.id, title=f"B{i:02d}") for i in range(12)]


def _client(make_app, **config):
    """A test client of an app with ``config``, and a counter of its SQL statements."""
    flask_app = make_app(CACHE_ENABLED=False, **config)
    counter = QueryCounter()
    with flask_app.app_context():
        for engine in engines():
            event.listen(engine, "before_cursor_execute", counter)
    return flask_app.test_client(), counter


def test_within_the_limit_the_total_is_exact_with_a_last_link(make_app, twelve):
    client, count_queries = _client(make_app, PAGINATION_COUNT_LIMIT=12)
    body = client.get("/v1/books?per_page=5&page=2").get_json()
    assert body["pagination"]["total"] == 12 and body["pagination"]["total_pages"] == 3
    assert body["links"]["last"] == "/v1/books?per_page=5&page=3"
    assert count_queries.count == 2  # the capped count and the page


def test_beyond_the_limit_the_total_is_an_estimate_without_a_last_link(make_app, twelve):
    client, count_queries = _client(make_app, PAGINATION_COUNT_LIMIT=5)
    body = client.get("/v1/books?per_page=5&page=2").get_json()
    pagination, links = body["pagination"], body["links"]
    # At least limit + 1 rows are known to exist; the planner may say more.
    assert pagination["total"] >= 6
    assert pagination["total_pages"] == math.ceil(pagination["total"] / 5)
    assert links["last"] is None
    # Next and previous still come from the rows themselves, exactly.
    assert links["next"] == "/v1/books?per_page=5&page=3"
    assert links["prev"] == "/v1/books?per_page=5&page=1"
    assert [b["title"] for b in body["data"]] == [f"B{i:02d}" for i in range(5, 10)]
    assert count_queries.count == 3  # the capped count, the EXPLAIN and the page
    assert count_queries.statements[1].startswith("EXPLAIN (FORMAT JSON) SELECT")

    last = client.get("/v1/books?per_page=5&page=3").get_json()
    assert len(last["data"]) == 2 and last["links"]["next"] is None


def test_a_zero_limit_always_counts_exactly(make_app, twelve):
    client, _ = _client(make_app, PAGINATION_COUNT_LIMIT=0)
    body = client.get("/v1/books?per_page=5").get_json()
    assert body["pagination"]["total"] == 12
    assert body["links"]["last"] == "/v1/books?per_page=5&page=3"


def test_estimate_reads_the_plan_of_the_filtered_query(app_ctx, twelve):
    db.session.execute(db.text("ANALYZE books"))
    db.session.commit()
    books = Book.__table__
    with read_connection() as conn:
        assert counting.estimate(conn, select(books)) == 12
        # Each estimate is planned with its own values.
        first = counting.estimate(conn, select(books).where(books.c.title == "B01"))
        second = counting.estimate(conn, select(books).where(books.c.title == "B02"))
        assert first == second == 1


def test_count_limit_setting():
    assert load_config({"APP_ENV": "development"})["PAGINATION_COUNT_LIMIT"] == 1000
    env = {"APP_ENV": "development", "PAGINATION_COUNT_LIMIT": "0"}
    assert load_config(env)["PAGINATION_COUNT_LIMIT"] == 0
    with pytest.raises(ConfigError):
        load_config({"APP_ENV": "development", "PAGINATION_COUNT_LIMIT": "-1"})
