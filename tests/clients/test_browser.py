"""The web frontend in headless Chromium, against a real gunicorn on another origin.

clients/web/tests/e2e.mjs drives the browser; this test starts the servers, creates the
customer and the books, and checks the result on screen and on the server's side.
"""

from __future__ import annotations

import json
import os
import subprocess
from decimal import Decimal

import pytest
from sqlalchemy import text

from bookstore.extensions import db
from tests.clients.conftest import CLIENTS, node, node_package, require
from tests.conftest import LiveServer

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "quiet harbour lantern 42"
PROBE = "cors-probe-title"


@pytest.fixture
def browser() -> list[str]:
    """The command that drives Chromium; checked before any server starts."""
    script = CLIENTS / "web" / "tests" / "e2e.mjs"
    command = [node(), str(script)]
    node_package("playwright-core")
    require(CHROMIUM, f"Chromium ({CHROMIUM}; apt-get install chromium)")
    return command


@pytest.fixture
def cors_api(browser, app, static_site):
    """The frontend on an allowed origin, the same files on a refused one, and the API."""
    allowed, refused = static_site(), static_site()
    server = LiveServer(env={"CORS_ORIGINS": allowed.url}, workers=1).start()
    yield server, allowed, refused
    server.stop()


def _access_log(server: LiveServer) -> list[dict]:
    lines = server.log.read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    return [e for e in entries if "method" in e]  # access-log lines


def _run_browser(command: list[str], env: dict[str, str]) -> dict:
    result = subprocess.run(
        command,
        env={**os.environ, **env, "CHROMIUM": CHROMIUM},
        cwd=CLIENTS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = result.stdout.strip().splitlines()
    seen = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    assert result.returncode == 0 and "failure" not in seen, (
        seen.get("failure") or result.stdout[-3000:] + result.stderr[-3000:]
    )
    return seen


def test_order_and_pay_in_the_browser_and_a_refused_origin(browser, cors_api, make, tmp_path):
    server, allowed, refused = cors_api
    make.user(email="reader@example.com", name="Ada Reader", password=PASSWORD)
    author = make.author(name="Ursula K. Le Guin")
    book = make.book(
        title="The Left Hand of Darkness", author_id=author.id, price=Decimal("9.50"), stock=3
    )
    make.book(title="Darkness Visible", author_id=author.id, price=Decimal("4.00"), stock=1)
    make.book(title="Unrelated", price=Decimal("1.00"))

    seen = _run_browser(
        browser,
        {
            "API_URL": server.url,
            "WEB_URL": allowed.url,
            "BLOCKED_WEB_URL": refused.url,
            "USER_EMAIL": "reader@example.com",
            "USER_PASSWORD": PASSWORD,
            "BOOK_TITLE": book.title,
            "SEARCH": "darkness",
            "PROBE": PROBE,
            "SCREENSHOT_DIR": str(tmp_path),
        },
    )

    # On screen: signed in, a search, an ETag revalidation, the order pending then paid.
    assert seen["apiBase"] == server.url
    assert seen["whoami"] == "Ada Reader"
    assert seen["searchRows"] == 2 and "q=darkness" in seen["searchUrl"]
    assert "304 Not Modified" in seen["bookDetail"] and "ETag" in seen["bookDetail"]
    placed, paid = seen["placed"], seen["paid"]
    assert placed["status"] == "pending" and placed["total"] == "19.00"
    assert placed["actions"] == ["pay", "cancel"]
    assert (seen["stockBefore"], seen["stockAfter"]) == ("3", "1")
    # The first answer was lost: the page offered a retry with the same key, and the
    # server replayed the order it had placed instead of placing a second one.
    dropped = seen["dropped"]
    assert dropped["status"] == 201 and "Retry safely" in dropped["message"]
    assert "placed" in placed["message"] and "replayed" in placed["message"]
    assert placed["exchange"].startswith("POST /v1/orders \u2192 201")
    assert "Idempotent-Replayed: true" in placed["exchange"]
    order_id = int(placed["location"].removeprefix("/v1/orders/"))
    assert paid["status"] == "paid" and paid["actions"] == ["cancel"]
    assert paid["exchange"].startswith(f"POST /v1/orders/{order_id}/pay \u2192 200")
    assert f"#{order_id}" in paid["orders"] and "paid" in paid["orders"]
    assert seen["allowed"]["errors"] == []
    assert seen["allowed"]["failed"] == [
        f"POST {server.url}/v1/orders net::ERR_CONNECTION_RESET"  # only the one we dropped
    ]

    # The request ids on the page were read from X-Request-ID: the server logged the same.
    log = _access_log(server)
    by_id = {entry["request_id"]: entry for entry in log}
    post = by_id[placed["requestId"]]
    assert (post["method"], post["path"], post["status"]) == ("POST", "/v1/orders", 201)
    assert by_id[dropped["requestId"]]["path"] == "/v1/orders"
    assert placed["requestId"] != dropped["requestId"]
    pay = by_id[paid["requestId"]]
    assert (pay["path"], pay["status"]) == (f"/v1/orders/{order_id}/pay", 200)
    last = by_id[seen["bar"]["requestId"]]
    assert seen["bar"]["request"].startswith(f"{last['method']} {last['path']}")
    # A bearer token and an Idempotency-Key make the POST non-simple: a preflight came first.
    assert any(e["method"] == "OPTIONS" and e["path"] == "/v1/orders" for e in log)
    orders = db.session.execute(text("SELECT id, status FROM orders")).all()
    assert [tuple(row) for row in orders] == [(order_id, "paid")]  # one order, not two
    stock = db.session.execute(text("SELECT stock FROM books WHERE id = :b"), {"b": book.id})
    assert stock.scalar_one() == 1

    # The refused origin: the API got the request and answered, the browser hid the answer.
    probe = [e for e in log if e["path"] == "/v1/books" and PROBE in (e.get("query") or "")]
    assert [e["status"] for e in probe] == [200]
    blocked = seen["blocked"]
    assert any("blocked by CORS policy" in line for line in blocked["console"]), blocked
    assert any(PROBE in line for line in blocked["failed"]), blocked
    assert "Cannot reach the API" in seen["blockedMessage"]
    assert refused.url in seen["blockedMessage"]
    assert "network error or blocked by CORS" in seen["blockedBar"]["request"]
    assert seen["blockedBar"]["requestId"] == "\u2013"  # no response header to read
