"""Authors and the books of one author."""

from __future__ import annotations

from tests.helpers import assert_error


def test_author_crud_round_trip(client, admin_headers):
    resp = client.post(
        "/v1/authors", json={"name": "Ursula K. Le Guin", "birth_year": 1929}, headers=admin_headers
    )
    assert resp.status_code == 201
    author = resp.get_json()["data"]
    assert author["bio"] is None and resp.headers["Location"] == f"/v1/authors/{author['id']}"
    resp = client.patch(resp.headers["Location"], json={"bio": "Earthsea."}, headers=admin_headers)
    assert (
        resp.get_json()["data"]["bio"] == "Earthsea."
        and resp.get_json()["data"]["birth_year"] == 1929
    )
    resp = client.put(
        f"/v1/authors/{author['id']}", json={"name": "U. K. Le Guin"}, headers=admin_headers
    )
    assert resp.get_json()["data"] | {"updated_at": None} == {
        **author,
        "name": "U. K. Le Guin",
        "birth_year": None,
        "updated_at": None,
    }
    assert client.delete(f"/v1/authors/{author['id']}", headers=admin_headers).status_code == 204


def test_author_birth_year_in_future_is_400(client, admin_headers):
    resp = client.post(
        "/v1/authors", json={"name": "Future", "birth_year": 3000}, headers=admin_headers
    )
    body = assert_error(resp, 400, "VALIDATION_ERROR")
    assert body["error"]["details"][0] == {
        "field": "birth_year",
        "code": "IN_FUTURE",
        "message": "Must not be in the future.",
    }


def test_deleting_author_with_books_is_409_and_keeps_everything(client, admin_headers, make):
    book = make.book()
    resp = client.delete(f"/v1/authors/{book.author_id}", headers=admin_headers)
    assert_error(resp, 409, "RESOURCE_IN_USE")
    assert client.get(f"/v1/authors/{book.author_id}").status_code == 200
    assert client.get(f"/v1/books/{book.id}").status_code == 200


def test_author_books_sorted_and_filtered_by_category(client, make):
    author = make.author()
    other = make.author()
    make.book(author_id=author.id, title="B", category="poetry", price="5.00")
    make.book(author_id=author.id, title="A", category="poetry", price="7.00")
    make.book(author_id=author.id, title="C", category="history")
    make.book(author_id=other.id, title="D", category="poetry")
    body = client.get(f"/v1/authors/{author.id}/books?category=poetry&sort=-price").get_json()
    assert [b["title"] for b in body["data"]] == ["A", "B"]
    assert body["pagination"]["total"] == 2
    assert body["links"]["self"].startswith(f"/v1/authors/{author.id}/books?")


def test_author_books_of_missing_author_is_404(client):
    assert_error(client.get("/v1/authors/999/books"), 404, "RESOURCE_NOT_FOUND")


def test_author_list_filters(client, make):
    make.author(name="Isaac Asimov", birth_year=1920)
    make.author(name="Mary Shelley", birth_year=1797, bio="Frankenstein")
    names = lambda q: [a["name"] for a in client.get(f"/v1/authors?{q}").get_json()["data"]]  # noqa: E731
    assert names("name=asim") == ["Isaac Asimov"]
    assert names("born_to=1800") == ["Mary Shelley"]
    assert names("q=frankenstein") == ["Mary Shelley"]
    assert names("sort=-name") == ["Mary Shelley", "Isaac Asimov"]
    assert_error(
        client.get("/v1/authors?born_from=1900&born_to=1800"), 400, "INVALID_QUERY_PARAMETER"
    )


def test_create_with_idempotency_key_replays_and_creates_once(client, admin_headers):
    headers = {**admin_headers, "Idempotency-Key": "author-create-1"}
    first = client.post("/v1/authors", json={"name": "Italo Calvino"}, headers=headers)
    again = client.post("/v1/authors", json={"name": "Italo Calvino"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["data"] == first.get_json()["data"]
    assert again.headers["Location"] == first.headers["Location"]
    assert client.get("/v1/authors").get_json()["pagination"]["total"] == 1
    other = client.post("/v1/authors", json={"name": "Someone Else"}, headers=headers)
    assert_error(other, 422, "IDEMPOTENCY_KEY_REUSED")
