"""GET/PATCH /v1/users/me, and the admin's /v1/users and /v1/users/{id}."""

from __future__ import annotations

import pytest

from bookstore.extensions import db
from bookstore.models import User
from bookstore.schemas.user import user_schema, user_to_dict
from tests.sessions import (
    PASSWORD,
    assert_error,
    bearer,
    login,
    me,
    refresh,
    register,
    signup,
)

NEW_PASSWORD = "another sturdy passphrase"


@pytest.fixture
def admin(client, make) -> dict[str, str]:
    make.user(email="boss@example.com", password=PASSWORD, role="admin")
    return bearer(login(client, "boss@example.com")["access_token"])


def test_fast_dump_matches_the_schema(make):
    user = make.user(name="Ada")
    fast = user_to_dict(user)
    assert fast.pop("_links") == {"self": f"/v1/users/{user.id}"}
    assert fast == user_schema.dump(user)


# -- /v1/users/me ----------------------------------------------------------------------


def test_me_returns_the_callers_account_privately(client):
    tokens = signup(client)
    response = me(client, tokens["access_token"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    data = response.get_json()["data"]
    assert data == tokens["user"]
    assert set(data) == {
        "id", "email", "name", "role", "active", "created_at", "updated_at", "_links",
    }  # fmt: skip
    etag = response.headers["ETag"]
    again = client.get(
        "/v1/users/me", headers={**bearer(tokens["access_token"]), "If-None-Match": etag}
    )
    assert again.status_code == 304


def test_me_of_a_vanished_account_is_401(client, app_ctx):
    tokens = signup(client)
    db.session.execute(db.text("DELETE FROM users"))
    db.session.commit()
    assert_error(me(client, tokens["access_token"]), 401, "INVALID_TOKEN")


def test_me_needs_a_token(client):
    assert_error(client.get("/v1/users/me"), 401, "AUTHENTICATION_REQUIRED")
    assert_error(client.patch("/v1/users/me", json={"name": "x"}), 401, "AUTHENTICATION_REQUIRED")


def test_patch_me_changes_the_name_and_clears_it_with_null(client):
    tokens = signup(client)
    headers = bearer(tokens["access_token"])
    response = client.patch("/v1/users/me", headers=headers, json={"name": "Reader"})
    assert response.status_code == 200
    assert response.get_json()["data"]["name"] == "Reader"
    assert response.headers["Cache-Control"] == "private, no-store"
    response = client.patch(
        "/v1/users/me",
        headers=headers,
        data='{"name": null}',
        content_type="application/merge-patch+json",
    )
    assert response.get_json()["data"]["name"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"role": "admin"},
        {"active": False},
        {"password_hash": "$2b$04$x"},
        {"name": "n" * 201},
        {"email": "not-an-email", "current_password": PASSWORD},
    ],
)
def test_patch_me_refuses_fields_it_does_not_own(client, body):
    tokens = signup(client)
    response = client.patch("/v1/users/me", headers=bearer(tokens["access_token"]), json=body)
    assert_error(response, 400, "VALIDATION_ERROR")
    assert me(client, tokens["access_token"]).get_json()["data"]["role"] == "customer"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"password": NEW_PASSWORD}, "REQUIRED"),
        ({"password": NEW_PASSWORD, "current_password": "wrong password here"}, "INCORRECT"),
        ({"email": "new@example.com"}, "REQUIRED"),
        ({"email": "new@example.com", "current_password": "wrong password"}, "INCORRECT"),
    ],
)
def test_sensitive_changes_need_the_current_password(client, change, code):
    tokens = signup(client)
    response = client.patch("/v1/users/me", headers=bearer(tokens["access_token"]), json=change)
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"][0]["field"] == "current_password"
    assert error["details"][0]["code"] == code
    assert login(client, "reader@example.com")  # nothing changed


def test_email_change_and_its_duplicate(client):
    register(client, "taken@example.com")
    tokens = signup(client)
    headers = bearer(tokens["access_token"])
    body = {"email": " Taken@Example.com", "current_password": PASSWORD}
    error = assert_error(
        client.patch("/v1/users/me", headers=headers, json=body), 409, "DUPLICATE_RESOURCE"
    )
    assert error["details"][0]["field"] == "email"
    body["email"] = "Moved@Example.com"
    response = client.patch("/v1/users/me", headers=headers, json=body)
    assert response.get_json()["data"]["email"] == "moved@example.com"
    assert login(client, "moved@example.com")


def test_new_password_follows_the_policy(client):
    tokens = signup(client)
    body = {"password": "password1234", "current_password": PASSWORD}
    response = client.patch("/v1/users/me", headers=bearer(tokens["access_token"]), json=body)
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"][0] == {
        "field": "password",
        "code": "COMMON_PASSWORD",
        "message": "This password is too common; choose another.",
    }
    body["password"] = "reader@example.com"
    response = client.patch("/v1/users/me", headers=bearer(tokens["access_token"]), json=body)
    assert assert_error(response, 400, "VALIDATION_ERROR")["details"][0]["field"] == "password"


def test_password_change_revokes_every_other_session(client):
    current = signup(client)
    other = login(client, "reader@example.com")
    body = {"password": NEW_PASSWORD, "current_password": PASSWORD}
    response = client.patch("/v1/users/me", headers=bearer(current["access_token"]), json=body)
    assert response.status_code == 200
    # Other sessions: refresh token and access token both dead, immediately.
    assert_error(me(client, other["access_token"]), 401, "INVALID_TOKEN")
    assert_error(refresh(client, other["refresh_token"]), 401, "INVALID_TOKEN")
    # Access tokens issued before the change stop too, the caller's included...
    assert_error(me(client, current["access_token"]), 401, "INVALID_TOKEN")
    # ...but the caller's session lives on: its refresh token gets a fresh access token.
    renewed = refresh(client, current["refresh_token"])
    assert renewed.status_code == 200
    assert me(client, renewed.get_json()["data"]["access_token"]).status_code == 200
    # The old password is gone, the new one works.
    response = client.post(
        "/v1/auth/login", json={"email": "reader@example.com", "password": PASSWORD}
    )
    assert_error(response, 401, "INVALID_CREDENTIALS")
    assert login(client, "reader@example.com", NEW_PASSWORD)


def test_password_change_without_redis_also_revokes_at_once(make_app):
    plain = make_app(REDIS_URL=None).test_client()
    current = signup(plain)
    other = login(plain, "reader@example.com")
    body = {"password": NEW_PASSWORD, "current_password": PASSWORD}
    assert (
        plain.patch("/v1/users/me", headers=bearer(current["access_token"]), json=body).status_code
        == 200
    )
    assert_error(me(plain, other["access_token"]), 401, "INVALID_TOKEN")
    assert refresh(plain, current["refresh_token"]).status_code == 200


def test_patch_me_honours_if_match(client):
    tokens = signup(client)
    headers = bearer(tokens["access_token"])
    etag = me(client, tokens["access_token"]).headers["ETag"]
    stale = {**headers, "If-Match": '"stale"'}
    assert_error(
        client.patch("/v1/users/me", headers=stale, json={"name": "X"}), 412, "PRECONDITION_FAILED"
    )
    fresh = {**headers, "If-Match": etag}
    assert client.patch("/v1/users/me", headers=fresh, json={"name": "X"}).status_code == 200


# -- admin: /v1/users ------------------------------------------------------------------


def test_list_users_is_admin_only(client, auth_headers):
    assert_error(client.get("/v1/users"), 401, "AUTHENTICATION_REQUIRED")
    assert_error(client.get("/v1/users", headers=auth_headers), 403, "INSUFFICIENT_PERMISSIONS")


def test_list_users_paginates_and_filters(client, make, admin):
    for n in range(5):
        make.user(email=f"customer{n}@shop.example", active=n != 4)
    response = client.get("/v1/users?per_page=2&sort=email", headers=admin)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    body = response.get_json()
    assert body["pagination"]["total"] == 6
    assert body["pagination"]["total_pages"] == 3
    assert [u["email"] for u in body["data"]] == ["boss@example.com", "customer0@shop.example"]
    assert 'rel="next"' in response.headers["Link"]
    following = client.get(
        f"/v1/users?per_page=2&sort=email&cursor={body['pagination']['next_cursor']}",
        headers=admin,
    ).get_json()
    assert [u["email"] for u in following["data"]] == [
        "customer1@shop.example",
        "customer2@shop.example",
    ]

    def emails(query: str) -> list[str]:
        response = client.get(f"/v1/users?{query}", headers=admin)
        assert response.status_code == 200
        return [u["email"] for u in response.get_json()["data"]]

    assert emails("role=admin") == ["boss@example.com"]
    assert emails("active=false") == ["customer4@shop.example"]
    assert emails("email=SHOP.example&active=true&role=customer") == [
        f"customer{n}@shop.example" for n in range(4)
    ]
    assert emails("email=%25") == []  # LIKE wildcards are literal
    assert emails("fields=email") == emails("")
    assert "password" not in client.get("/v1/users", headers=admin).get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        "role=root",
        "active=maybe",
        "per_page=101",
        "sort=password_hash",
        "fields=password_hash",
        "cursor=bad",
    ],
)
def test_list_users_rejects_bad_queries(client, admin, query):
    assert_error(client.get(f"/v1/users?{query}", headers=admin), 400, "INVALID_QUERY_PARAMETER")


def test_get_user(client, make, admin, auth_headers):
    user = make.user(email="someone@example.com")
    response = client.get(f"/v1/users/{user.id}", headers=admin)
    assert response.status_code == 200
    assert response.get_json()["data"]["email"] == "someone@example.com"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert_error(client.get("/v1/users/999999", headers=admin), 404, "RESOURCE_NOT_FOUND")
    assert_error(
        client.get(f"/v1/users/{user.id}", headers=auth_headers), 403, "INSUFFICIENT_PERMISSIONS"
    )
    assert_error(client.get(f"/v1/users/{user.id}"), 401, "AUTHENTICATION_REQUIRED")


# -- admin: PATCH /v1/users/{id} -------------------------------------------------------


@pytest.mark.parametrize("redis_url", ["configured", None])
def test_deactivation_takes_effect_at_once(make_app, client, make, redis_url):
    app = make_app() if redis_url else make_app(REDIS_URL=None)
    client = app.test_client()
    make.user(email="boss@example.com", password=PASSWORD, role="admin")
    admin = bearer(login(client, "boss@example.com")["access_token"])
    tokens = signup(client)
    user_id = tokens["user"]["id"]
    assert me(client, tokens["access_token"]).status_code == 200
    response = client.patch(f"/v1/users/{user_id}", headers=admin, json={"active": False})
    assert response.status_code == 200
    assert response.get_json()["data"]["active"] is False
    assert_error(me(client, tokens["access_token"]), 401, "INVALID_TOKEN")
    assert_error(refresh(client, tokens["refresh_token"]), 401, "INVALID_TOKEN")
    response = client.post(
        "/v1/auth/login", json={"email": "reader@example.com", "password": PASSWORD}
    )
    assert_error(response, 401, "INVALID_CREDENTIALS")
    # Reactivated: a new login works; the old tokens stay dead.
    client.patch(f"/v1/users/{user_id}", headers=admin, json={"active": True})
    assert me(client, login(client, "reader@example.com")["access_token"]).status_code == 200
    assert_error(me(client, tokens["access_token"]), 401, "INVALID_TOKEN")


def test_promotion_and_demotion(client, admin):
    tokens = signup(client)
    user_id = tokens["user"]["id"]
    response = client.patch(f"/v1/users/{user_id}", headers=admin, json={"role": "admin"})
    assert response.get_json()["data"]["role"] == "admin"
    promoted = refresh(client, tokens["refresh_token"]).get_json()["data"]
    assert client.get("/v1/users", headers=bearer(promoted["access_token"])).status_code == 200
    client.patch(f"/v1/users/{user_id}", headers=admin, json={"role": "customer"})
    assert_error(
        client.get("/v1/users", headers=bearer(promoted["access_token"])), 401, "INVALID_TOKEN"
    )
    demoted = refresh(client, promoted["refresh_token"]).get_json()["data"]
    response = client.get("/v1/users", headers=bearer(demoted["access_token"]))
    assert_error(response, 403, "INSUFFICIENT_PERMISSIONS")


def test_an_unchanged_patch_revokes_nothing(client, admin):
    tokens = signup(client)
    user_id = tokens["user"]["id"]
    response = client.patch(
        f"/v1/users/{user_id}", headers=admin, json={"role": "customer", "active": True}
    )
    assert response.status_code == 200
    assert me(client, tokens["access_token"]).status_code == 200


def test_admins_cannot_demote_or_deactivate_themselves(client, admin, app_ctx):
    boss = db.session.query(User).filter_by(email="boss@example.com").one()
    for change in ({"role": "customer"}, {"active": False}):
        response = client.patch(f"/v1/users/{boss.id}", headers=admin, json=change)
        assert_error(response, 403, "INSUFFICIENT_PERMISSIONS")
    assert client.get("/v1/users", headers=admin).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"role": "root"},
        {"active": "false"},
        {"active": 0},
        {"active": None},
        {"email": "x@example.com"},
        {"password_hash": "x"},
    ],
)
def test_admin_patch_rejects_bad_bodies(client, make, admin, body):
    user = make.user()
    response = client.patch(f"/v1/users/{user.id}", headers=admin, json=body)
    assert_error(response, 400, "VALIDATION_ERROR")


def test_admin_patch_errors(client, make, admin, auth_headers):
    user = make.user()
    path = f"/v1/users/{user.id}"
    assert_error(
        client.patch("/v1/users/999999", headers=admin, json={"active": False}),
        404,
        "RESOURCE_NOT_FOUND",
    )
    assert_error(
        client.patch(path, headers=auth_headers, json={"role": "admin"}),
        403,
        "INSUFFICIENT_PERMISSIONS",
    )
    assert_error(client.patch(path, json={"role": "admin"}), 401, "AUTHENTICATION_REQUIRED")
    stale = {**admin, "If-Match": '"stale"'}
    assert_error(
        client.patch(path, headers=stale, json={"role": "admin"}), 412, "PRECONDITION_FAILED"
    )
    assert_error(
        client.patch(path, headers=admin, data="role=admin", content_type="text/plain"),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
