"""Magazines: every status code the resource produces, every validation rule, lists."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bookstore.api.magazines import magazines
from bookstore.extensions import db
from bookstore.models import Magazine
from bookstore.schemas.magazine import magazine_schema, magazine_to_dict
from tests.helpers import assert_error as assert_envelope

TODAY = dt.datetime.now(dt.UTC).date()
VALID = {
    "title": "Science Weekly",
    "issn": "0317-8471",
    "publisher": "Acme Media",
    "issue_number": 12,
    "publication_date": "2024-03-01",
    "category": "science",
    "price": "4.50",
    "stock": 7,
}


def assert_error(response, status: int, code: str, field: str | None = None, detail=None):
    """The contract's error envelope, naming ``field`` (with code ``detail``) when given."""
    error = assert_envelope(response, status, code)["error"]
    if field is not None:
        fields = {d["field"]: d["code"] for d in error["details"]}
        assert field in fields, error["details"]
        if detail is not None:
            assert fields[field] == detail, error["details"]
    return error


def magazine_count() -> int:
    return db.session.execute(select(func.count()).select_from(magazines)).scalar_one()


def etag_of(client, magazine_id: int) -> str:
    return client.get(f"/v1/magazines/{magazine_id}").headers["ETag"]


# -- reads ---------------------------------------------------------------------------


def test_get_one_matches_schema_dump_and_is_publicly_cacheable(client, make):
    magazine = make.magazine(price=Decimal("3.5"))
    response = client.get(f"/v1/magazines/{magazine.id}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"].startswith("public, max-age=")
    assert response.headers["ETag"].startswith('"')
    data = response.get_json()["data"]
    row = db.session.execute(select(magazines).where(magazines.c.id == magazine.id)).one()
    assert data == magazine_to_dict(row)
    # The schema documents the representation; the fast path must not drift from it.
    dumped = magazine_schema.dump(db.session.get(Magazine, row.id))
    assert dumped == {k: v for k, v in data.items() if k != "_links"}
    assert data["price"] == "3.50"
    assert data["publication_date"] == "2024-01-01"
    assert data["_links"] == {"self": f"/v1/magazines/{magazine.id}"}


def test_get_one_sparse_fields(client, make):
    magazine = make.magazine()
    data = client.get(f"/v1/magazines/{magazine.id}?fields=title,price").get_json()["data"]
    assert set(data) == {"id", "title", "price", "_links"}
    bad = client.get(f"/v1/magazines/{magazine.id}?fields=title,secret")
    assert_error(bad, 400, "INVALID_QUERY_PARAMETER", "fields", "INVALID_CHOICE")


def test_get_one_uses_one_statement(client, make, count_queries):
    magazine = make.magazine()
    count_queries.statements.clear()
    assert client.get(f"/v1/magazines/{magazine.id}").status_code == 200
    assert count_queries.count == 1


def test_get_missing_is_404(client):
    assert_error(client.get("/v1/magazines/999"), 404, "RESOURCE_NOT_FOUND")
    assert_error(client.get("/v1/magazines/abc"), 404, "RESOURCE_NOT_FOUND")


def test_if_none_match_gives_304_on_item_and_list(client, make):
    magazine = make.magazine()
    for url in (f"/v1/magazines/{magazine.id}", "/v1/magazines"):
        etag = client.get(url).headers["ETag"]
        response = client.get(url, headers={"If-None-Match": etag})
        assert response.status_code == 304
        assert response.get_data() == b""
        assert response.headers["ETag"] == etag
        assert client.get(url, headers={"If-None-Match": '"stale"'}).status_code == 200


def test_unsupported_method_is_405_with_allow(client):
    error = assert_error(client.put("/v1/magazines", json={}), 405, "METHOD_NOT_ALLOWED")
    assert error["details"] == []


def test_root_and_openapi_list_magazines(client):
    assert client.get("/v1").get_json()["data"]["_links"]["magazines"] == "/v1/magazines"
    paths = client.get("/openapi.json").get_json()["paths"]
    assert set(paths["/v1/magazines"]) == {"get", "post"}
    assert set(paths["/v1/magazines/{magazine_id}"]) == {"get", "put", "patch", "delete"}
    assert "409" in paths["/v1/magazines"]["post"]["responses"]
    assert "412" in paths["/v1/magazines/{magazine_id}"]["patch"]["responses"]


# -- create --------------------------------------------------------------------------


def test_create_returns_201_with_location_and_normalised_issn(client, admin_headers):
    body = {**VALID, "issn": "03178471", "price": 4.5}
    body.pop("stock")
    response = client.post("/v1/magazines", json=body, headers=admin_headers)
    assert response.status_code == 201
    data = response.get_json()["data"]
    assert response.headers["Location"] == f"/v1/magazines/{data['id']}"
    assert data["issn"] == "0317-8471"
    assert data["price"] == "4.50"
    assert data["stock"] == 0
    assert data["publication_date"] == "2024-03-01"
    assert data["created_at"].endswith("Z")
    assert client.get(response.headers["Location"]).get_json()["data"] == data


def test_create_accepts_x_check_digit_and_today(client, admin_headers):
    body = {**VALID, "issn": "2434-561x", "publication_date": TODAY.isoformat()}
    response = client.post("/v1/magazines", json=body, headers=admin_headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["data"]["issn"] == "2434-561X"


def test_create_requires_a_token_and_the_admin_role(client, auth_headers):
    error = assert_error(client.post("/v1/magazines", json=VALID), 401, "AUTHENTICATION_REQUIRED")
    assert error["details"] == []
    response = client.post("/v1/magazines", json=VALID, headers=auth_headers)
    assert_error(response, 403, "INSUFFICIENT_PERMISSIONS")
    assert magazine_count() == 0


def test_same_issue_of_the_same_serial_is_409(client, admin_headers):
    assert client.post("/v1/magazines", json=VALID, headers=admin_headers).status_code == 201
    duplicate = {**VALID, "issn": "03178471", "title": "Another title"}
    response = client.post("/v1/magazines", json=duplicate, headers=admin_headers)
    error = assert_error(response, 409, "DUPLICATE_RESOURCE", "issue_number", "DUPLICATE")
    assert error["details"][0]["message"] == "Already exists for this issn."
    next_issue = {**VALID, "issue_number": VALID["issue_number"] + 1}
    assert client.post("/v1/magazines", json=next_issue, headers=admin_headers).status_code == 201
    assert magazine_count() == 2


FUTURE = (TODAY + dt.timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("field", "value", "detail"),
    [
        ("issn", "0317-8472", "INVALID_CHECKSUM"),
        ("issn", "0317-847", "INVALID_FORMAT"),
        ("issn", "ABCD-EFGH", "INVALID_FORMAT"),
        ("issn", "0317-8471-0", "TOO_LONG"),
        ("issn", 3178471, "INVALID_TYPE"),
        ("publication_date", FUTURE, "IN_FUTURE"),
        ("publication_date", "2024-02-30", "INVALID_TYPE"),
        ("publication_date", "01/03/2024", "INVALID_TYPE"),
        ("publication_date", 20240301, "INVALID_TYPE"),
        ("issue_number", 0, "INVALID_VALUE"),
        ("issue_number", -3, "INVALID_VALUE"),
        ("issue_number", "12", "INVALID_TYPE"),
        ("issue_number", 1.5, "INVALID_TYPE"),
        ("issue_number", True, "INVALID_TYPE"),
        ("issue_number", 2**31, "INVALID_VALUE"),
        ("price", "-1.00", "INVALID_FORMAT"),
        ("price", "4.999", "INVALID_FORMAT"),
        ("price", "cheap", "INVALID_FORMAT"),
        ("price", True, "INVALID_TYPE"),
        ("price", "100000000.00", "OUT_OF_RANGE"),
        ("stock", -1, "INVALID_VALUE"),
        ("stock", "5", "INVALID_TYPE"),
        ("title", "", "REQUIRED"),
        ("title", "   ", "REQUIRED"),
        ("title", "x" * 301, "TOO_LONG"),
        ("title", "Nul\u0000byte", "INVALID_FORMAT"),
        ("title", ["list"], "INVALID_TYPE"),
        ("publisher", "p" * 201, "TOO_LONG"),
        ("publisher", "bad\u0000", "INVALID_FORMAT"),
        ("category", "c" * 51, "TOO_LONG"),
        ("category", 7, "INVALID_TYPE"),
        ("title", None, "NULL_NOT_ALLOWED"),
        ("price", None, "NULL_NOT_ALLOWED"),
        ("stock", None, "NULL_NOT_ALLOWED"),
    ],
)
def test_create_rejects_invalid_values(client, admin_headers, field, value, detail):
    response = client.post("/v1/magazines", json={**VALID, field: value}, headers=admin_headers)
    assert_error(response, 400, "VALIDATION_ERROR", field, detail)
    assert magazine_count() == 0


@pytest.mark.parametrize(
    "field", ["title", "issn", "publisher", "issue_number", "publication_date", "category", "price"]
)
def test_create_requires_every_required_field(client, admin_headers, field):
    body = {k: v for k, v in VALID.items() if k != field}
    response = client.post("/v1/magazines", json=body, headers=admin_headers)
    assert_error(response, 400, "VALIDATION_ERROR", field, "REQUIRED")


@pytest.mark.parametrize("field", ["colour", "id", "created_at", "_links"])
def test_create_rejects_unknown_and_read_only_fields(client, admin_headers, field):
    response = client.post("/v1/magazines", json={**VALID, field: 1}, headers=admin_headers)
    assert_error(response, 400, "VALIDATION_ERROR", field, "UNKNOWN_FIELD")
    assert magazine_count() == 0


def test_create_rejects_bodies_that_are_not_a_json_object(client, admin_headers, app):
    send = client.post
    response = send(
        "/v1/magazines", data="{", headers=admin_headers, content_type="application/json"
    )
    assert_error(response, 400, "INVALID_JSON")
    response = send("/v1/magazines", json=[VALID], headers=admin_headers)
    assert_error(response, 400, "VALIDATION_ERROR")
    response = send("/v1/magazines", data="title=x", headers=admin_headers)
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    big = {**VALID, "title": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)}
    assert_error(send("/v1/magazines", json=big, headers=admin_headers), 413, "PAYLOAD_TOO_LARGE")
    assert magazine_count() == 0


# -- replace, update, delete ---------------------------------------------------------


def test_put_replaces_and_resets_absent_stock(client, make, admin_headers):
    magazine = make.magazine(stock=30)
    body = {k: v for k, v in VALID.items() if k != "stock"}
    response = client.put(f"/v1/magazines/{magazine.id}", json=body, headers=admin_headers)
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert {k: data[k] for k in body} == body
    assert data["stock"] == 0
    assert response.headers["ETag"] == etag_of(client, magazine.id)


def test_put_requires_every_required_field(client, make, admin_headers):
    magazine = make.magazine(title="Kept")
    body = {k: v for k, v in VALID.items() if k != "publisher"}
    response = client.put(f"/v1/magazines/{magazine.id}", json=body, headers=admin_headers)
    assert_error(response, 400, "VALIDATION_ERROR", "publisher", "REQUIRED")
    assert db.session.get(Magazine, magazine.id, populate_existing=True).title == "Kept"


def test_patch_changes_only_the_fields_sent(client, make, admin_headers):
    magazine = make.magazine(stock=30, title="Old")
    before = client.get(f"/v1/magazines/{magazine.id}").get_json()["data"]
    response = client.patch(
        f"/v1/magazines/{magazine.id}",
        data='{"title": "New", "price": 6}',
        content_type="application/merge-patch+json",
        headers=admin_headers,
    )
    assert response.status_code == 200
    after = response.get_json()["data"]
    assert after["title"] == "New"
    assert after["price"] == "6.00"
    unchanged = {"issn", "publisher", "issue_number", "publication_date", "category", "stock"}
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}
    empty = client.patch(f"/v1/magazines/{magazine.id}", json={}, headers=admin_headers)
    assert empty.status_code == 200
    assert empty.get_json()["data"]["title"] == "New"


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({"title": None}, "title", "NULL_NOT_ALLOWED"),
        ({"issn": None}, "issn", "NULL_NOT_ALLOWED"),
        ({"stock": None}, "stock", "NULL_NOT_ALLOWED"),
        ({"publication_date": FUTURE}, "publication_date", "IN_FUTURE"),
        ({"issn": "1234-5678"}, "issn", "INVALID_CHECKSUM"),
        ({"issue_number": 0}, "issue_number", "INVALID_VALUE"),
        ({"title": "t" * 301}, "title", "TOO_LONG"),
        ({"publisher": "\u0000"}, "publisher", "INVALID_FORMAT"),
        ({"nope": 1}, "nope", "UNKNOWN_FIELD"),
    ],
)
def test_patch_rejects_invalid_values(client, make, admin_headers, body, field, detail):
    magazine = make.magazine(title="Kept")
    response = client.patch(f"/v1/magazines/{magazine.id}", json=body, headers=admin_headers)
    assert_error(response, 400, "VALIDATION_ERROR", field, detail)
    assert db.session.get(Magazine, magazine.id, populate_existing=True).title == "Kept"


def test_patch_into_an_existing_issue_is_409(client, make, admin_headers):
    first = make.magazine(issn="0317-8471", issue_number=1)
    second = make.magazine(issn="0317-8471", issue_number=2)
    response = client.patch(
        f"/v1/magazines/{second.id}", json={"issue_number": 1}, headers=admin_headers
    )
    assert_error(response, 409, "DUPLICATE_RESOURCE", "issue_number", "DUPLICATE")
    assert client.get(f"/v1/magazines/{first.id}").status_code == 200
    assert client.get(f"/v1/magazines/{second.id}").get_json()["data"]["issue_number"] == 2


def test_patch_rejects_other_content_types(client, make, admin_headers):
    magazine = make.magazine()
    response = client.patch(
        f"/v1/magazines/{magazine.id}", data="{}", content_type="text/plain", headers=admin_headers
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_writes_honour_if_match(client, make, admin_headers, method):
    magazine = make.magazine(title="Kept")
    url = f"/v1/magazines/{magazine.id}"
    kwargs = {"json": {**VALID, "title": "Changed"}} if method != "delete" else {}
    stale = {**admin_headers, "If-Match": '"0000"'}
    assert_error(getattr(client, method)(url, headers=stale, **kwargs), 412, "PRECONDITION_FAILED")
    assert client.get(url).get_json()["data"]["title"] == "Kept"
    current = {**admin_headers, "If-Match": etag_of(client, magazine.id)}
    assert getattr(client, method)(url, headers=current, **kwargs).status_code in (200, 204)


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_writes_to_a_missing_magazine_are_404(client, admin_headers, method):
    kwargs = {"json": VALID} if method != "delete" else {}
    response = getattr(client, method)("/v1/magazines/424242", headers=admin_headers, **kwargs)
    assert_error(response, 404, "RESOURCE_NOT_FOUND")


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_writes_need_an_admin(client, make, auth_headers, method):
    magazine = make.magazine()
    url = f"/v1/magazines/{magazine.id}"
    kwargs = {"json": VALID} if method != "delete" else {}
    assert_error(getattr(client, method)(url, **kwargs), 401, "AUTHENTICATION_REQUIRED")
    response = getattr(client, method)(url, headers=auth_headers, **kwargs)
    assert_error(response, 403, "INSUFFICIENT_PERMISSIONS")


def test_delete_is_204_without_body_then_404(client, make, admin_headers):
    magazine = make.magazine()
    response = client.delete(f"/v1/magazines/{magazine.id}", headers=admin_headers)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_error(client.get(f"/v1/magazines/{magazine.id}"), 404, "RESOURCE_NOT_FOUND")
    assert magazine_count() == 0


# -- lists ---------------------------------------------------------------------------


def ids(response) -> list[int]:
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["data"]]


@pytest.fixture
def shelf(make) -> dict[str, int]:
    """Five issues with distinct prices, dates, categories, publishers and stock."""
    rows = [
        ("Science Weekly", "0317-8471", 1, "2024-01-05", "science", "Acme Media", "5.00", 3),
        ("Science Weekly", "0317-8471", 2, "2024-02-05", "science", "Acme Media", "5.50", 0),
        ("History Today", "2434-561X", 7, "2023-06-01", "history", "Past & Co", "7.25", 9),
        ("Code_Monthly 100%", "1050-124X", 3, "2024-03-10", "computing", "Byte Press", "9.99", 1),
        ("The Reader", "0000-0000", 44, "2022-12-24", "books", "acme media", "3.10", 0),
    ]
    out = {}
    for title, issn_, number, day, category, publisher, price, stock in rows:
        magazine = make.magazine(
            title=title,
            issn=issn_,
            issue_number=number,
            publication_date=dt.date.fromisoformat(day),
            category=category,
            publisher=publisher,
            price=Decimal(price),
            stock=stock,
        )
        out[f"{title}#{number}"] = magazine.id
    return out


def test_list_envelope_links_and_cache_headers(client, shelf):
    response = client.get("/v1/magazines?per_page=2&page=2")
    body = response.get_json()
    assert response.headers["Cache-Control"].startswith("public, max-age=")
    assert body["pagination"]["total"] == 5
    assert body["pagination"]["total_pages"] == 3
    assert body["pagination"]["page"] == 2
    assert body["links"]["next"] == "/v1/magazines?per_page=2&page=3"
    assert body["links"]["prev"] == "/v1/magazines?per_page=2&page=1"
    assert '</v1/magazines?per_page=2&page=3>; rel="next"' in response.headers["Link"]
    assert [item["id"] for item in body["data"]] == sorted(shelf.values())[2:4]


def test_list_uses_two_statements(client, shelf, count_queries):
    count_queries.statements.clear()
    assert client.get("/v1/magazines?sort=-price&per_page=3").status_code == 200
    assert count_queries.count == 2  # count and page; a cursor page is one


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("price", ["The Reader#44", "Science Weekly#1", "Science Weekly#2", "History Today#7",
                   "Code_Monthly 100%#3"]),
        ("-publication_date", ["Code_Monthly 100%#3", "Science Weekly#2", "Science Weekly#1",
                               "History Today#7", "The Reader#44"]),
        ("title,-price", ["Code_Monthly 100%#3", "History Today#7", "Science Weekly#2",
                          "Science Weekly#1", "The Reader#44"]),
        ("-id", ["The Reader#44", "Code_Monthly 100%#3", "History Today#7", "Science Weekly#2",
                 "Science Weekly#1"]),
    ],
)  # fmt: skip
def test_sort(client, shelf, sort, order):
    assert ids(client.get(f"/v1/magazines?sort={sort}")) == [shelf[key] for key in order]


@pytest.mark.parametrize("sort", ["issue_number", "stock", "-created_at", "price,secret"])
def test_sort_outside_the_allow_list_is_400(client, sort):
    error = assert_error(
        client.get(f"/v1/magazines?sort={sort}"), 400, "INVALID_QUERY_PARAMETER", "sort"
    )
    assert "allowed: id, price, publication_date, title" in error["details"][0]["message"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("category=science", ["Science Weekly#1", "Science Weekly#2"]),
        ("issn=2434561x", ["History Today#7"]),
        ("publisher=Acme%20Media", ["Science Weekly#1", "Science Weekly#2"]),
        ("min_price=5.50&max_price=9.99", ["Science Weekly#2", "History Today#7",
                                          "Code_Monthly 100%#3"]),
        ("max_price=5", ["Science Weekly#1", "The Reader#44"]),
        ("in_stock=true", ["Science Weekly#1", "History Today#7", "Code_Monthly 100%#3"]),
        ("in_stock=false", ["Science Weekly#2", "The Reader#44"]),
        ("date_from=2024-01-05&date_to=2024-02-05", ["Science Weekly#1", "Science Weekly#2"]),
        ("date_to=2023-06-01", ["History Today#7", "The Reader#44"]),
        ("q=ACME", ["Science Weekly#1", "Science Weekly#2", "The Reader#44"]),
        ("q=reader", ["The Reader#44"]),
        ("q=%26%20co", ["History Today#7"]),
        ("q=100%25", ["Code_Monthly 100%#3"]),
        ("q=e_m", ["Code_Monthly 100%#3"]),
        ("q=%25", ["Code_Monthly 100%#3"]),
        ("category=science&in_stock=true&q=weekly", ["Science Weekly#1"]),
        ("category=none", []),
    ],
)  # fmt: skip
def test_filters(client, shelf, query, expected):
    assert ids(client.get(f"/v1/magazines?{query}&sort=id")) == [shelf[k] for k in expected]


@pytest.mark.parametrize(
    ("query", "field", "detail"),
    [
        ("min_price=9&max_price=1", "max_price", "INVALID_RANGE"),
        ("date_from=2024-02-01&date_to=2024-01-01", "date_to", "INVALID_RANGE"),
        ("date_from=yesterday", "date_from", "INVALID_TYPE"),
        ("min_price=abc", "min_price", "INVALID_FORMAT"),
        ("in_stock=maybe", "in_stock", "INVALID_TYPE"),
        ("issn=0317-8472", "issn", "INVALID_CHECKSUM"),
        ("q=", "q", "REQUIRED"),
        ("q=" + "x" * 201, "q", "TOO_LONG"),
        ("category=a%00b", "category", "INVALID_FORMAT"),
        ("per_page=abc", "per_page", "INVALID_TYPE"),
        ("per_page=101", "per_page", "INVALID_VALUE"),
        ("page=0", "page", "INVALID_VALUE"),
        ("colour=red", "colour", "UNKNOWN_FIELD"),
        ("fields=title,nope", "fields", "INVALID_CHOICE"),
    ],
)
def test_bad_query_parameters_are_400(client, query, field, detail):
    response = client.get(f"/v1/magazines?{query}")
    assert_error(response, 400, "INVALID_QUERY_PARAMETER", field, detail)


def test_list_sparse_fields(client, shelf):
    data = client.get("/v1/magazines?fields=issn,publication_date").get_json()["data"]
    assert len(data) == 5
    assert all(set(item) == {"id", "issn", "publication_date", "_links"} for item in data)


def test_cursor_walks_every_row_once_forwards_and_back(client, make, shelf):
    extra = [make.magazine(price=Decimal("5.00")).id for _ in range(4)]  # ties on price
    expected = ids(client.get("/v1/magazines?sort=-price&per_page=100"))
    assert sorted(expected) == sorted([*shelf.values(), *extra])
    bodies, url = [], "/v1/magazines?sort=-price&per_page=3"
    while url:
        bodies.append(client.get(url).get_json())
        cursor = bodies[-1]["pagination"]["next_cursor"]
        url = f"/v1/magazines?per_page=3&cursor={cursor}" if cursor else None
    pages = [[item["id"] for item in body["data"]] for body in bodies]
    assert [i for page in pages for i in page] == expected
    assert len(pages) == 3
    assert bodies[-1]["pagination"]["total"] is None  # cursor pages do not count
    prev = bodies[-1]["pagination"]["prev_cursor"]
    assert ids(client.get(f"/v1/magazines?per_page=3&cursor={prev}")) == pages[1]


def test_cursor_is_stable_under_inserts(client, make, shelf):
    first = client.get("/v1/magazines?sort=title&per_page=2").get_json()
    make.magazine(title="AAA inserted before the cursor")
    second = ids(
        client.get(f"/v1/magazines?per_page=2&cursor={first['pagination']['next_cursor']}")
    )
    titles_sorted = ids(client.get("/v1/magazines?sort=title&per_page=100"))
    assert second == titles_sorted[3:5]  # after the two already seen, nothing repeated


def test_bad_cursors_are_400(client, shelf):
    cursor = client.get("/v1/magazines?per_page=2").get_json()["pagination"]["next_cursor"]
    payload, signature = cursor.split(".")
    for bad in (cursor[:-2] + "xx", "garbage", f"{payload}.", f"{payload[:-1]}A.{signature}"):
        response = client.get(f"/v1/magazines?cursor={bad}")
        assert_error(response, 400, "INVALID_QUERY_PARAMETER", "cursor", "INVALID_CURSOR")
    response = client.get(f"/v1/magazines?cursor={cursor}&sort=-price")
    assert_error(response, 400, "INVALID_QUERY_PARAMETER", "cursor", "INVALID_CURSOR")
    response = client.get(f"/v1/magazines?cursor={cursor}&page=2")
    assert_error(response, 400, "INVALID_QUERY_PARAMETER", "cursor")
