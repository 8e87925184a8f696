"""Test data and assertions shared by the order and idempotency tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from bookstore.auth import create_access_token
from bookstore.extensions import db

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}


@dataclass(frozen=True)
class Caller:
    id: int
    headers: dict[str, str]

    def with_key(self, key: str | None = None) -> dict[str, str]:
        return {**self.headers, "Idempotency-Key": key or new_key()}


def caller(make: Any, role: str = "customer") -> Caller:
    user = make.user(role=role)
    token = create_access_token(user.id, role)
    return Caller(user.id, {"Authorization": f"Bearer {token}"})


def new_key() -> str:
    return uuid.uuid4().hex


def order_body(*lines: tuple[int, int], **address: Any) -> dict[str, Any]:
    return {
        "items": [{"book_id": book_id, "quantity": quantity} for book_id, quantity in lines],
        "shipping_address": {**ADDRESS, **address},
    }


def place(client: Any, who: Caller, *lines: tuple[int, int], key: str | None = None) -> Any:
    return client.post("/v1/orders", json=order_body(*lines), headers=who.with_key(key))


def place_ok(client: Any, who: Caller, *lines: tuple[int, int]) -> dict[str, Any]:
    response = place(client, who, *lines)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["data"]


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The contract's error envelope, with this status and code; returns ``error``."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"status", "code", "message", "details", "request_id"}
    assert error["status"] == status
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]
    for detail in error["details"]:
        assert set(detail) == {"field", "code", "message"}
    return error


def scalar(sql: str, **params: Any) -> Any:
    """Read committed state on a fresh connection (never through the test's session)."""
    with db.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def stock_of(book_id: int) -> int:
    return scalar("SELECT stock FROM books WHERE id = :id", id=book_id)


def execute(sql: str, **params: Any) -> None:
    with db.engine.begin() as conn:
        conn.execute(text(sql), params)
