"""``flask orders expire``: once, and as the long-running process beside gunicorn."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests.conftest import ROOT
from tests.ordering import caller, execute, place_ok, scalar, stock_of
from tests.webhook_support import worker_env


def _overdue(client, make, book) -> int:
    order = place_ok(client, caller(make), (book.id, 2))
    execute(
        "UPDATE orders SET expires_at = now() - interval '1 second' WHERE id = :id", id=order["id"]
    )
    return order["id"]


def _status(order_id: int) -> str:
    return scalar("SELECT status FROM orders WHERE id = :id", id=order_id)


def _wait_until_expired(order_id: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _status(order_id) != "expired":
        assert time.monotonic() < deadline, "the order was not expired"
        time.sleep(0.05)


def test_expire_once(app, client, make):
    book = make.book(stock=10)
    overdue = _overdue(client, make, book)
    current = place_ok(client, caller(make), (book.id, 1))

    result = app.test_cli_runner().invoke(args=["orders", "expire"])

    assert result.exit_code == 0, result.output
    assert "Expired 1 unpaid orders." in result.output
    assert (_status(overdue), _status(current["id"]), stock_of(book.id)) == (
        "expired",
        "pending",
        9,
    )


def test_expire_loop_keeps_expiring_until_sigterm(app, client, make):
    book = make.book(stock=10)
    expirer = subprocess.Popen(
        [sys.executable, "-m", "flask", "orders", "expire", "--loop", "--interval", "0.05"],
        cwd=ROOT,
        env=worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(2):  # one pass after another, not a single one
            _wait_until_expired(_overdue(client, make, book))
    finally:
        expirer.send_signal(signal.SIGTERM)
        out, err = expirer.communicate(timeout=30)
    assert expirer.returncode == 0, err
    assert "Expired 2 unpaid orders." in out
    assert stock_of(book.id) == 10
