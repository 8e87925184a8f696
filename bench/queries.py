"""SQL statements per request, counted in process on the same requests wrk sends.

A ``before_cursor_execute`` listener on both engines counts every statement, the read path
(``bookstore.db.reads``) included; requests go through ``app.test_client()`` with the
benchmark's production settings, the limiter and the cache on.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import event

from bench.loadgen import SCENARIOS, Scenario
from bench.settings import Settings

SAMPLE = 40
ORDER_BODY = {
    "items": [{"book_id": 1, "quantity": 1}],
    "shipping_address": {
        "name": "Bench Customer",
        "line1": "1 Load Street",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
    },
}


@contextmanager
def counting(engines: list[Any]) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn, cursor, statement, *args: Any) -> None:
        statements.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)


class Counter:
    def __init__(self, settings: Settings) -> None:
        from bench.inprocess import app

        self.app = app(settings)
        self.client = self.app.test_client()
        self.settings = settings
        self.redis = redis.Redis.from_url(settings.redis_url)
        login = {"email": settings.customer_email, "password": settings.password}
        response = self.client.post("/v1/auth/login", json=login)
        self.token = response.get_json()["data"]["access_token"]

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, int, str | None]:
        """(statements, status, X-Cache) for one request in its own app context."""
        from bookstore.db import reads
        from bookstore.extensions import db

        with self.app.app_context():
            with counting(reads.engines()) as statements:
                response = self.client.open(path, method=method, **kwargs)
            db.session.remove()
        return len(statements), response.status_code, response.headers.get("X-Cache")

    def scenario(self, scenario: Scenario, files: dict[str, Path]) -> dict[str, Any]:
        self.redis.flushdb()  # as before every wrk run: the cache starts cold
        headers = {"Authorization": f"Bearer {self.token}"} if scenario.auth else {}
        samples = []
        if scenario.mode == "order":
            for _ in range(SAMPLE // 4):
                headers["Idempotency-Key"] = f"count-{uuid.uuid4()}"
                samples.append(self.request("POST", "/v1/orders", json=ORDER_BODY, headers=headers))
        elif scenario.mode == "login":
            body = {"email": self.settings.customer_email, "password": self.settings.password}
            samples = [self.request("POST", "/v1/auth/login", json=body) for _ in range(3)]
        else:
            paths = files[scenario.paths].read_text().split()[:SAMPLE]
            if scenario.warm:
                for path in paths:
                    self.request("GET", path, headers=headers)
            samples = [self.request("GET", path, headers=headers) for path in paths]
        return summarise(samples)

    def per_page(self, files: dict[str, Path]) -> list[dict[str, Any]]:
        """The same list requests at per_page=10 and 100: the statement count must not move."""
        rows = []
        deepest = max(int(name.split("_")[1]) for name in files if name.startswith("cursor_"))
        for name in ("list_filtered", "search", f"cursor_{deepest}", f"offset_{deepest}"):
            paths = files[name].read_text().split()[:10]
            row: dict[str, Any] = {"scenario": name}
            for size in (10, 100):
                resized = [_resize(p, size) for p in paths]
                row[f"per_page_{size}"] = summarise([self.request("GET", p) for p in resized])
            rows.append(row)
        return rows


def _resize(path: str, size: int) -> str:
    # Offset pages keep their depth in rows, not their page number.
    from urllib.parse import parse_qsl, urlencode, urlsplit

    parts = urlsplit(path)
    params = dict(parse_qsl(parts.query))
    if "page" in params:
        depth = (int(params["page"]) - 1) * int(params["per_page"])
        params["page"] = str(depth // size + 1)
    params["per_page"] = str(size)
    return f"{parts.path}?{urlencode(params)}"


def summarise(samples: list[tuple[int, int, str | None]]) -> dict[str, Any]:
    misses = [n for n, _, cache in samples if cache != "HIT"]
    hits = [n for n, _, cache in samples if cache == "HIT"]
    return {
        "requests": len(samples),
        "statuses": sorted({status for _, status, _ in samples}),
        "queries_mean": statistics.fmean(n for n, _, _ in samples) if samples else 0.0,
        "queries_min": min((n for n, _, _ in samples), default=0),
        "queries_max": max((n for n, _, _ in samples), default=0),
        "queries_miss": statistics.fmean(misses) if misses else None,
        "queries_hit": statistics.fmean(hits) if hits else None,
        "hits": len(hits),
    }


def count_all(settings: Settings, files: dict[str, Path]) -> dict[str, Any]:
    counter = Counter(settings)
    per_scenario = {
        s.name: counter.scenario(s, files)
        for s in SCENARIOS
        if s.server == "app" and s.mode != "mix" and (s.paths is None or s.paths in files)
    }
    return {"scenarios": per_scenario, "per_page": counter.per_page(files)}
