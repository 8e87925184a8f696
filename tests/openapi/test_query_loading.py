"""``bookstore.openapi.query`` loads a query string exactly as the whole schema would.

What it returns, and what it refuses, must be what ``schema(unknown=RAISE).load`` returns
and refuses, the second time in a process too (an empty query string is loaded once).
"""

from __future__ import annotations

import pytest
from marshmallow import RAISE, ValidationError

from bookstore import openapi
from bookstore.exceptions import InvalidQuery, marshmallow_details
from bookstore.schemas.book import BookListQuery, BookQuery

QUERIES = [
    "cursor=abc&sort=-price",
    "per_page=5",
    "per_page=0",
    "page=2&per_page=100&category=poetry",
    "min_price=5&max_price=1",
    "min_price=1.5&max_price=2",
    "year_from=2001&year_to=1999",
    "page=1&cursor=abc",
    "in_stock=maybe",
    "in_stock=true&q=river",
    "q=&category=a",
    "bogus=1",
    "bogus=1&per_page=x",
    "isbn=9780306406157&include=author",
    "include=publisher",
    "fields=id,title&sort=title",
    "&",
]


def _through_the_decorator(app, schema, query_string):
    @openapi.query(schema)
    def view(query):
        return query

    with app.test_request_context(f"/v1/books?{query_string}"):
        try:
            return view()
        except InvalidQuery as error:
            return ("refused", error.details)


def _whole_schema(app, schema, query_string):
    with app.test_request_context(f"/v1/books?{query_string}"):
        from flask import request

        try:
            return schema(unknown=RAISE).load(request.args.to_dict(flat=True))
        except ValidationError as error:
            return ("refused", marshmallow_details(error))


@pytest.mark.parametrize("schema", [BookListQuery, BookQuery])
@pytest.mark.parametrize("query_string", QUERIES)
def test_each_combination_loads_as_the_whole_schema_would(app, schema, query_string):
    expected = _whole_schema(app, schema, query_string)
    assert _through_the_decorator(app, schema, query_string) == expected
    assert _through_the_decorator(app, schema, query_string) == expected  # loaded again


def test_each_request_loads_its_own_values(app):
    @openapi.query(BookListQuery)
    def view(query):
        return query

    for price, loaded in (("1", "1.00"), ("2.5", "2.50"), ("30", "30.00")):
        with app.test_request_context(f"/v1/books?min_price={price}&cursor=c"):
            query = view()
        assert str(query["min_price"]) == loaded and query["per_page"] == 20
