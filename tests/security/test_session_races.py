"""Session changes racing a refresh, on real PostgreSQL and Redis, in a loop of trials.

Each trial starts the two requests together (a barrier, each in its own thread, app
context and database session) and then checks the outcome, whatever order PostgreSQL
serialised them in: never a 500, and after a logout, a detected reuse, a password change
or a deactivation no token of the ended sessions works again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from tests.conftest import IsolatedClient
from tests.sessions import PASSWORD, bearer, login, me, refresh, register

TRIALS = 12


@pytest.fixture
def open_app(make_app):
    app = make_app(RATELIMIT_ENABLED=False)
    app.test_client_class = IsolatedClient
    return app


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run ``calls`` in threads released together; their results, or their exception."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def issued(response: Any) -> list[dict[str, Any]]:
    """The token pair a refresh returned, if it succeeded (401 is the other outcome)."""
    assert response.status_code in (200, 401), response.get_data(as_text=True)
    return [response.get_json()["data"]] if response.status_code == 200 else []


def assert_dead(client: Any, pairs: list[dict[str, Any]]) -> None:
    for pair in pairs:
        assert me(client, pair["access_token"]).status_code == 401
        assert refresh(client, pair["refresh_token"]).status_code == 401


def test_logout_racing_a_refresh_ends_the_token_the_refresh_issues(open_app):
    client = open_app.test_client()
    register(client, "victim@example.com")
    for _ in range(TRIALS):
        stolen = login(client, "victim@example.com")
        victim, attacker = open_app.test_client(), open_app.test_client()
        out, refreshed = race(
            partial(victim.post, "/v1/auth/logout", headers=bearer(stolen["access_token"])),
            partial(refresh, attacker, stolen["refresh_token"]),
        )
        assert out.status_code == 204
        assert_dead(client, [stolen, *issued(refreshed)])


def test_reuse_racing_a_refresh_ends_the_whole_family(open_app):
    client = open_app.test_client()
    register(client, "victim@example.com")
    for _ in range(TRIALS):
        first = login(client, "victim@example.com")
        second = refresh(client, first["refresh_token"]).get_json()["data"]
        victim, attacker = open_app.test_client(), open_app.test_client()
        reused, refreshed = race(
            partial(refresh, attacker, first["refresh_token"]),
            partial(refresh, victim, second["refresh_token"]),
        )
        assert reused.status_code == 401
        assert_dead(client, [first, second, *issued(refreshed)])


def change_password(app: Any, owner: dict[str, Any], old: str, new: str) -> Callable[[], Any]:
    """A PATCH /v1/users/me from ``owner``'s session, ready to race, on its own client."""
    body = {"password": new, "current_password": old}
    headers = bearer(owner["access_token"])
    return partial(app.test_client().patch, "/v1/users/me", json=body, headers=headers)


def test_password_change_racing_a_refresh_never_fails_and_ends_every_other_session(open_app):
    client = open_app.test_client()
    register(client, "victim@example.com")
    password = PASSWORD
    for trial in range(TRIALS):
        owner = login(client, "victim@example.com", password)
        stolen = login(client, "victim@example.com", password)
        new_password = f"a brand new passphrase number {trial}"
        changed, refreshed = race(
            change_password(open_app, owner, password, new_password),
            partial(refresh, open_app.test_client(), stolen["refresh_token"]),
        )
        assert changed.status_code == 200, changed.get_data(as_text=True)
        assert_dead(client, [stolen, *issued(refreshed)])
        assert me(client, owner["access_token"]).status_code == 401
        # The caller's own session continues, and only the new password logs in.
        assert refresh(client, owner["refresh_token"]).status_code == 200
        old = {"email": "victim@example.com", "password": password}
        assert client.post("/v1/auth/login", json=old).status_code == 401
        password = new_password


def test_deactivation_racing_a_refresh_never_fails_and_ends_every_session(open_app, make):
    client = open_app.test_client()
    make.user(email="boss@example.com", password=PASSWORD, role="admin")
    admin = bearer(login(client, "boss@example.com")["access_token"])
    for trial in range(TRIALS):
        user = register(client, f"user{trial}@example.com")
        stolen = login(client, f"user{trial}@example.com")
        first, second = open_app.test_client(), open_app.test_client()
        changed, refreshed = race(
            partial(first.patch, f"/v1/users/{user['id']}", json={"active": False}, headers=admin),
            partial(refresh, second, stolen["refresh_token"]),
        )
        assert changed.status_code == 200, changed.get_data(as_text=True)
        assert_dead(client, [stolen, *issued(refreshed)])


def test_password_change_racing_a_login_with_the_old_password_ends_that_session(open_app):
    client = open_app.test_client()
    register(client, "victim@example.com")
    password = PASSWORD
    for trial in range(TRIALS):
        owner = login(client, "victim@example.com", password)
        new_password = f"a brand new passphrase number {trial}"
        credentials = {"email": "victim@example.com", "password": password}
        changed, logged_in = race(
            change_password(open_app, owner, password, new_password),
            partial(open_app.test_client().post, "/v1/auth/login", json=credentials),
        )
        assert changed.status_code == 200, changed.get_data(as_text=True)
        assert logged_in.status_code in (200, 401), logged_in.get_data(as_text=True)
        password = new_password
        assert_dead(client, issued(logged_in))
