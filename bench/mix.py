"""The mixed-workload scenario's side of ``bench.run``: its configuration and its medians.

The requests themselves come from ``bench.mixgen``, a process of its own.
"""

from __future__ import annotations

import json
import statistics
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench import mixgen
from bench.loadgen import Scenario
from bench.settings import Settings

KEYS = ("rps", "p50", "p95", "p99")


def _post(url: str, path: str, body: dict[str, str], context: Any) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - the benchmark's own servers
        url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
        return json.loads(response.read())


def _login(url: str, email: str, password: str, name: str, context: Any) -> str | None:
    """An access token for ``email``, registering the account first if the server's
    database lacks it; None if neither works."""
    login = {"email": email, "password": password}
    for attempt in range(2):
        try:
            return str(_post(url, "/v1/auth/login", login, context)["data"]["access_token"])
        except (urllib.error.URLError, KeyError, ValueError):
            if attempt:
                return None
        try:
            _post(url, "/v1/auth/register", {**login, "name": name}, context)
        except (urllib.error.URLError, ValueError):
            return None
    return None


def customer_tokens(settings: Settings, url: str, cafile: str | None) -> list[str]:
    """An access token from ``url`` for each of the benchmark's customers; empty if the
    server gives none (a mix then runs without orders)."""
    context = mixgen.tls_context(url, cafile)
    tokens = []
    for n, email in enumerate(settings.customer_emails()):
        token = _login(url, email, settings.password, f"Bench Customer {n}", context)
        if token is None:
            return []
        tokens.append(token)
    return tokens


def config(
    settings: Settings,
    files: dict[str, Path],
    scenario: Scenario,
    url: str,
    seconds: int,
    cafile: str | None = None,
    tokens: list[str] | None = None,
) -> dict[str, Any]:
    """``tokens``: the customers' access tokens on ``url``, for the orders (none: no orders)."""
    # The same requests wherever the mix runs: the cluster's twins draw what the API's draws.
    name = str(scenario.tags.get("direct", scenario.name))
    return {
        "url": url,
        "cafile": cafile,
        "seconds": seconds,
        "connections": settings.mix_connections,
        "orders": scenario.tags["orders"],
        "tokens": list(tokens or []) if scenario.tags["orders"] else [],
        "books": settings.books,
        "order_books": settings.order_books,
        "list_paths": files["mix_list"].read_text().split(),
        "search_paths": files["search"].read_text().split(),
        "email": settings.customer_email,
        "password": settings.password,
        "seed": 1 + sum(map(ord, name)),
    }


def hit_rate(stats: list[dict[str, Any]]) -> float | None:
    hits = sum(s["cache_hits"] for s in stats)
    seen = hits + sum(s["cache_misses"] for s in stats)
    return hits / seen if seen else None


READ_CLASSES = ("book", "list", "search")


def class_medians(raw: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per mix scenario: each request class's medians over the rounds, and the read hit rate."""
    out: dict[str, Any] = {}
    for name, runs in raw.items():
        if not runs or "classes" not in runs[0]:
            continue
        classes: dict[str, Any] = {}
        for kind in mixgen.CLASSES:
            stats = [run["classes"][kind] for run in runs]
            row: dict[str, Any] = {key: statistics.median(s[key] for s in stats) for key in KEYS}
            row["requests"] = sum(s["requests"] for s in stats)
            row["errors"] = sum(s["errors"] + s["socket_errors"] for s in stats)
            row["statuses"] = _merged(s["statuses"] for s in stats)
            row["hit_rate"] = hit_rate(stats)
            classes[kind] = row
        reads = [run["classes"][kind] for run in runs for kind in READ_CLASSES]
        out[name] = {
            "classes": classes,
            "read_hit_rate": hit_rate(reads),
            "read_hit_rate_all": [
                hit_rate([run["classes"][kind] for kind in READ_CLASSES]) for run in runs
            ],
        }
    return out


def _merged(statuses: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for one in statuses:
        for code, n in one.items():
            out[code] = out.get(code, 0) + n
    return out
