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


def customer_token(settings: Settings, url: str, cafile: str | None) -> str | None:
    """A customer access token from ``url``; the cluster's database may need the account
    registered first. None if neither works (the mix then runs without orders)."""
    context = mixgen.tls_context(url, cafile)
    login = {"email": settings.customer_email, "password": settings.password}
    for attempt in range(2):
        try:
            return _post(url, "/v1/auth/login", login, context)["data"]["access_token"]
        except (urllib.error.URLError, KeyError, ValueError):
            if attempt:
                return None
        try:
            _post(url, "/v1/auth/register", {**login, "name": "Bench Customer"}, context)
        except (urllib.error.URLError, ValueError):
            return None
    return None


def config(
    settings: Settings,
    files: dict[str, Path],
    scenario: Scenario,
    url: str,
    seconds: int,
    cafile: str | None = None,
) -> dict[str, Any]:
    token = customer_token(settings, url, cafile) if scenario.tags["orders"] else None
    # The same requests wherever the mix runs: the cluster's twins draw what the API's draws.
    name = str(scenario.tags.get("direct", scenario.name))
    return {
        "url": url,
        "cafile": cafile,
        "seconds": seconds,
        "connections": settings.mix_connections,
        "orders": scenario.tags["orders"],
        "token": token,
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
