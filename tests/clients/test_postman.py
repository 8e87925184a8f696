"""The Postman collection, run by newman against a real gunicorn (what `make postman` does)."""

from __future__ import annotations

import json
import re
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bookstore.extensions import db
from tests.clients.conftest import CLIENTS, node, node_package

COLLECTION = CLIENTS / "postman" / "bookstore.postman_collection.json"
ENVIRONMENT = CLIENTS / "postman" / "bookstore.postman_environment.json"


def _requests(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for item in items:
        found.extend(_requests(item["item"]) if "item" in item else [item])
    return found


def _script(item: dict[str, Any], listen: str) -> str:
    return "\n".join(
        line
        for event in item.get("event", [])
        if event["listen"] == listen
        for line in event["script"]["exec"]
    )


def _newman(base_url: str, report: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    newman = node_package("newman") / "bin" / "newman.js"
    command = [
        node(),
        str(newman),
        "run",
        str(COLLECTION),
        "--environment",
        str(ENVIRONMENT),
        "--env-var",
        f"baseUrl={base_url}",
        "--reporters",
        "cli,json",
        "--reporter-json-export",
        str(report),
        "--color",
        "off",
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=CLIENTS)


def _seed_catalog(make) -> dict[int, int]:
    """Eight books in stock and one sold out; returns each book's stock by id."""
    author = make.author(name="Ursula K. Le Guin")
    titles = ["Earthsea", "Tehanu", "The Dispossessed", "The Lathe of Heaven", "Always Coming Home"]
    stock = {}
    for n, title in enumerate(titles + ["Lavinia", "Changing Planes", "Gifts"]):
        book = make.book(
            title=title,
            author_id=author.id,
            category="fantasy",
            price=Decimal("7.50") + n,
            stock=3 + n,
            description="A story of islands, wizards and a shadow.",
        )
        stock[book.id] = book.stock
    make.book(title="A Book Nobody Can Buy", category="fantasy", stock=0)
    return stock


def _folders() -> list[str]:
    return [item["name"] for item in json.loads(COLLECTION.read_text())["item"]]


def test_collection_is_v2_1_and_every_request_asserts():
    collection = json.loads(COLLECTION.read_text())
    environment = json.loads(ENVIRONMENT.read_text())
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    assert [v["key"] for v in environment["values"]] == ["baseUrl"]
    requests = _requests(collection["item"])
    assert len(requests) >= 20
    for item in requests:
        tests = _script(item, "test")
        assert "pm.response.to.have.status(" in tests, item["name"]
    every = _script(collection, "test")
    for header in ("X-Request-ID", "Content-Type"):
        assert f"pm.response.headers.get('{header}')" in every


def test_bearer_auth_is_the_collections_and_every_request_has_an_example():
    collection = json.loads(COLLECTION.read_text())
    assert collection["auth"]["type"] == "bearer"
    assert collection["auth"]["bearer"][0]["value"] == "{{accessToken}}"
    before = _script(collection, "prerequest")
    assert "/v1/auth/login" in before and "/v1/auth/refresh" in before
    for item in _requests(collection["item"]):
        # Either inherited (no auth of its own) or deliberately anonymous.
        assert item["request"].get("auth", {"type": "noauth"})["type"] == "noauth", item["name"]
        statuses = [int(s) for s in re.findall(r"to\.have\.status\((\d+)\)", _script(item, "test"))]
        examples = item.get("response", [])
        assert examples, item["name"]
        assert {example["code"] for example in examples} <= set(statuses), item["name"]
        for example in examples:
            assert example["originalRequest"]["method"] == item["request"]["method"]
            if example["code"] not in (204, 304):
                json.loads(example["body"])


@pytest.mark.e2e
def test_collection_passes_against_a_live_server(live_server, make, tmp_path):
    stock_before = _seed_catalog(make)
    report = tmp_path / "newman.json"

    result = _newman(live_server.url, report)

    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    run = json.loads(report.read_text())["run"]
    total = len(_requests(json.loads(COLLECTION.read_text())["item"]))
    assert run["stats"]["requests"] == {"total": total, "pending": 0, "failed": 0}
    assert run["stats"]["assertions"]["failed"] == 0
    assert run["stats"]["assertions"]["total"] >= 5 * total
    assert run["failures"] == []
    # What the collection did is real: one customer, one paid order of one copy.
    rows = db.session.execute(
        text(
            "SELECT u.email, o.status, i.quantity, b.id, b.stock FROM orders o"
            " JOIN users u ON u.id = o.user_id JOIN order_items i ON i.order_id = o.id"
            " JOIN books b ON b.id = i.book_id"
        )
    ).all()
    assert len(rows) == 1
    email, status, quantity, book_id, stock = rows[0]
    assert email.startswith("postman-") and status == "paid" and quantity == 1
    assert stock == stock_before[book_id] - 1


@pytest.mark.e2e
@pytest.mark.parametrize("folder", _folders())
def test_every_folder_runs_alone(live_server, make, tmp_path, folder):
    _seed_catalog(make)
    report = tmp_path / "newman.json"

    result = _newman(live_server.url, report, "--folder", folder)

    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    run = json.loads(report.read_text())["run"]
    assert run["failures"] == [] and run["stats"]["requests"]["failed"] == 0
    folder_item = next(i for i in json.loads(COLLECTION.read_text())["item"] if i["name"] == folder)
    # Executions are the folder's requests; the pre-request script's log-ins come on top.
    assert len(run["executions"]) >= len(_requests(folder_item["item"]))
    names = {execution["item"]["name"] for execution in run["executions"]}
    assert names == {item["name"] for item in _requests(folder_item["item"])}


@pytest.mark.e2e
def test_a_failed_assertion_fails_the_run(live_server, tmp_path):
    # No books in stock: the catalog folder's checks fail, and newman must say so.
    report = tmp_path / "newman.json"

    result = _newman(live_server.url, report, "--folder", "2. Catalog")

    assert result.returncode == 1, result.stdout[-3000:]
    failures = json.loads(report.read_text())["run"]["failures"]
    assert any("five books, every one in stock" in f["error"]["test"] for f in failures)
