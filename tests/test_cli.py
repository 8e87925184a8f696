"""flask create-admin."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bookstore.auth import create_access_token
from bookstore.extensions import db
from bookstore.models import User
from tests.sessions import PASSWORD, assert_error, bearer, login, me


@pytest.fixture
def cli(app):
    return app.test_cli_runner()


def _users(email: str) -> list[User]:
    db.session.expire_all()
    return list(db.session.execute(select(User).where(User.email == email)).scalars())


def test_create_admin_from_the_environment(cli, client, app_ctx, monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", PASSWORD)
    result = cli.invoke(args=["create-admin", "--email", " Root@Example.com ", "--name", "Root"])
    assert result.exit_code == 0, result.output
    assert "Created admin root@example.com" in result.output
    assert PASSWORD not in result.output
    (user,) = _users("root@example.com")
    assert (user.role, user.active, user.name) == ("admin", True, "Root")
    tokens = login(client, "root@example.com")
    assert client.get("/v1/users", headers=bearer(tokens["access_token"])).status_code == 200


def test_create_admin_prompts_without_echo(cli, client, app_ctx, monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    result = cli.invoke(
        args=["create-admin", "--email", "root@example.com"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert login(client, "root@example.com")


def test_create_admin_promotes_and_reactivates_an_existing_account(cli, client, make, monkeypatch):
    user = make.user(email="promote@example.com", password=PASSWORD, active=False)
    old_token = create_access_token(user.id, "customer")
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    result = cli.invoke(args=["create-admin", "--email", "promote@example.com"])  # no prompt
    assert result.exit_code == 0, result.output
    assert "Promoted to admin promote@example.com" in result.output
    (promoted,) = _users("promote@example.com")
    assert (promoted.role, promoted.active) == ("admin", True)
    # The password is unchanged, and customer tokens issued before are revoked.
    assert login(client, "promote@example.com")["access_token"]
    assert_error(me(client, old_token), 401, "INVALID_TOKEN")


@pytest.mark.parametrize("password", ["short", "password1234"])
def test_create_admin_refuses_a_weak_password(cli, app_ctx, monkeypatch, password):
    monkeypatch.setenv("ADMIN_PASSWORD", password)
    result = cli.invoke(args=["create-admin", "--email", "root@example.com"])
    assert result.exit_code == 1
    assert "Password refused" in result.output
    assert _users("root@example.com") == []


def test_create_admin_never_takes_the_password_as_an_argument(cli, app_ctx):
    result = cli.invoke(
        args=["create-admin", "--email", "root@example.com", "--password", PASSWORD]
    )
    assert result.exit_code == 2
    assert "No such option" in result.output
    assert _users("root@example.com") == []


@pytest.mark.parametrize("args", [[], ["--email", "not-an-email"]])
def test_create_admin_needs_a_valid_email(cli, app_ctx, args):
    result = cli.invoke(args=["create-admin", *args])
    assert result.exit_code == 2
    assert "email" in result.output.lower()
