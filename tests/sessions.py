"""Helpers for tests that log in through the real endpoints."""

from __future__ import annotations

from typing import Any

PASSWORD = "a sturdy long passphrase"


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The contract's error envelope with ``status`` and ``code``; returns its ``error``."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    error = response.get_json()["error"]
    assert error["status"] == status
    assert error["code"] == code
    assert error["message"]
    assert isinstance(error["details"], list)
    assert error["request_id"] == response.headers["X-Request-ID"]
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    return error


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: Any, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["data"]


def register(client: Any, email: str, password: str = PASSWORD, **extra: Any) -> dict[str, Any]:
    body = {"email": email, "password": password, **extra}
    response = client.post("/v1/auth/register", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["data"]


def signup(client: Any, email: str = "reader@example.com") -> dict[str, Any]:
    """Register and log in: the token pair, with the account under ``"user"``."""
    user = register(client, email)
    return {**login(client, email), "user": user}


def refresh(client: Any, refresh_token: str) -> Any:
    return client.post("/v1/auth/refresh", json={"refresh_token": refresh_token})


def me(client: Any, access_token: str) -> Any:
    return client.get("/v1/users/me", headers=bearer(access_token))
