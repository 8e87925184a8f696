"""Sessions end: JWT_SESSION_MAX_AGE after the login, however often they are refreshed."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
from sqlalchemy import text

from bookstore.extensions import db
from tests.conftest import IsolatedClient
from tests.sessions import assert_error, refresh, signup

MAX_AGE = 3600


@pytest.fixture
def short_sessions(make_app):
    app = make_app(JWT_SESSION_MAX_AGE=MAX_AGE, RATELIMIT_ENABLED=False)
    app.test_client_class = IsolatedClient
    return app


def _started(app, seconds_ago: int) -> dt.datetime:
    """Move every session's start back; returns the start."""
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=seconds_ago)
    with app.app_context():
        db.session.execute(text("UPDATE refresh_families SET created_at = :s"), {"s": start})
        db.session.commit()
    return start


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_a_refresh_past_the_max_age_is_invalid(short_sessions):
    client = short_sessions.test_client()
    tokens = signup(client)
    _started(short_sessions, MAX_AGE + 1)
    error = assert_error(refresh(client, tokens["refresh_token"]), 401, "INVALID_TOKEN")
    assert "maximum age" in error["message"]


def test_refreshing_never_extends_the_session(short_sessions):
    client = short_sessions.test_client()
    pair = signup(client)
    end = _started(short_sessions, MAX_AGE - 600) + dt.timedelta(seconds=MAX_AGE)
    for _ in range(5):
        response = refresh(client, pair["refresh_token"])
        assert response.status_code == 200, response.get_data(as_text=True)
        pair = response.get_json()["data"]
        # The 14-day refresh lifetime is cut to the session end, the access token too.
        assert _claims(pair["refresh_token"])["exp"] == int(end.timestamp())
        assert _claims(pair["access_token"])["exp"] <= int(end.timestamp())
        assert 0 < pair["expires_in"] <= 600
    with short_sessions.app_context():
        latest = db.session.execute(
            text("SELECT expires_at FROM refresh_tokens ORDER BY id DESC LIMIT 1")
        ).scalar()
    assert latest == end
    _started(short_sessions, MAX_AGE)
    assert_error(refresh(client, pair["refresh_token"]), 401, "INVALID_TOKEN")


def test_the_default_max_age_is_30_days(client):
    tokens = signup(client)
    claims = _claims(tokens["refresh_token"])
    assert claims["exp"] - claims["iat"] == 14 * 24 * 3600  # the refresh TTL binds first
    _started(client.application, 30 * 24 * 3600 + 1)
    assert_error(refresh(client, tokens["refresh_token"]), 401, "INVALID_TOKEN")
