"""The scenarios, and wrk driving them on loopback (bench/wrk/bench.lua reports as JSON)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.dataset import DEPTHS
from bench.settings import LUA, OUT, ROOT


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    # "app", "baseline", "baseline_sync", "plain" (the API, limiter and cache off),
    # "cluster" (BENCH_CLUSTER_URL, or bench.cluster under gthread) or "cluster_sync"
    server: str = "app"
    mode: str = "paths"  # see bench/wrk/bench.lua; "mix": bench.mixgen instead of wrk
    paths: str | None = None  # a request list of bench.dataset
    auth: bool = False  # a fresh customer access token per run
    connections: int | None = None  # None: the default (BENCH_CONNECTIONS)
    warm: bool = False  # request every path once before the run (cache-hit scenarios)
    group: str = "other"
    tags: dict[str, object] = field(default_factory=dict)


BOOK = [
    Scenario("book_miss", "GET /v1/books/{id}, cache miss", paths="book_miss", group="book"),
    Scenario(
        "book_miss_auth",
        "GET /v1/books/{id}, cache miss, customer token",
        paths="book_miss",
        auth=True,
        group="book",
    ),
    Scenario(
        "baseline_miss",
        "baseline GET /v1/books/{id}, random id",
        server="baseline",
        paths="book_miss",
        group="book",
    ),
    Scenario(
        "baseline_miss_sync",
        "baseline GET /v1/books/{id}, random id, sync worker",
        server="baseline_sync",
        paths="book_miss",
        group="book",
    ),
    Scenario(
        "book_hit", "GET /v1/books/{id}, cache hit", paths="book_hot", warm=True, group="book"
    ),
    Scenario(
        "book_hit_auth",
        "GET /v1/books/{id}, cache hit, customer token",
        paths="book_hot",
        auth=True,
        warm=True,
        group="book",
    ),
    Scenario(
        "baseline_hot",
        "baseline GET /v1/books/{id}, the same hot ids",
        server="baseline",
        paths="book_hot",
        group="book",
    ),
    Scenario(
        "baseline_hot_sync",
        "baseline GET /v1/books/{id}, the same hot ids, sync worker",
        server="baseline_sync",
        paths="book_hot",
        group="book",
    ),
]
LISTS = [
    Scenario(
        "list_filtered",
        "GET /v1/books?category&min_price&max_price&sort=-price (page 1)",
        paths="list_filtered",
        group="list",
    ),
    Scenario(
        "search_c1",
        "GET /v1/books?q= (full-text, page 1), 1 connection",
        paths="search",
        connections=1,
        group="list",
    ),
    # Runs just before cursor_0, whose rows it returns (bench/baseline.py).
    Scenario(
        "baseline_list",
        "baseline GET /v1/books, 20 rows after an id (keyset)",
        server="baseline",
        paths="baseline_list",
        group="list",
    ),
    Scenario(
        "baseline_list_sync",
        "baseline GET /v1/books, 20 rows after an id (keyset), sync worker",
        server="baseline_sync",
        paths="baseline_list",
        group="list",
    ),
]
PAGES = [
    Scenario(
        f"{kind}_{depth}",
        f"{kind} page at depth {depth:,}",
        paths=f"{kind}_{depth}",
        group="pages",
        tags={"kind": kind, "depth": depth},
    )
    for kind in ("cursor", "offset")
    for depth in DEPTHS
]
WRITES = [
    Scenario("order", "POST /v1/orders (new Idempotency-Key each)", mode="order", auth=True),
    Scenario("login", "POST /v1/auth/login (bcrypt cost 12)", mode="login", connections=4),
]
# The API with RATELIMIT_ENABLED and CACHE_ENABLED off (bench.run starts it beside the
# other two): the same requests as book_miss and cursor_0, so the report can say how much
# of the distance to the baseline those two features account for.
PLAIN = [
    Scenario(
        "book_miss_plain",
        "GET /v1/books/{id}, limiter and cache off",
        server="plain",
        paths="book_miss",
        group="plain",
    ),
    Scenario(
        "cursor_0_plain",
        "cursor page at depth 0, limiter and cache off",
        server="plain",
        paths="cursor_0",
        group="plain",
    ),
]
PLAIN_ENV = {"RATELIMIT_ENABLED": "false", "CACHE_ENABLED": "false"}  # the "plain" server's
# The mixed workload (bench.mixgen), with and without orders.
MIX = [
    Scenario("mix", "mixed workload, full mix", mode="mix", group="mix", tags={"orders": True}),
    Scenario(
        "mix_read",
        "mixed workload, orders removed",
        mode="mix",
        group="mix",
        tags={"orders": False},
    ),
]
# Through nginx and two instances (bench.cluster): each scenario under the production
# worker class ("cluster"), then under sync workers ("cluster_sync"), in the same round.
CLUSTER = [
    Scenario(
        f"cluster_{scenario.name}{suffix}",
        f"cluster ({worker_class}): {scenario.label}",
        server=f"cluster{suffix}",
        mode=scenario.mode,
        paths=scenario.paths,
        warm=scenario.warm,
        group="cluster",
        tags={**scenario.tags, "worker_class": worker_class, "direct": scenario.name},
    )
    for scenario in [s for s in BOOK if s.name in ("book_miss", "book_hit")] + MIX
    for worker_class, suffix in (("gthread", ""), ("sync", "_sync"))
]
SCENARIOS = BOOK + LISTS + PAGES + PLAIN + WRITES + MIX + CLUSTER
WORKER_CLASS_SCENARIOS = ("book_miss", "baseline_miss", "book_hit", "baseline_hot")
# Each baseline scenario and its twin under the sync worker: ratios use the faster.
BASELINE_TWINS = {
    "baseline_miss": "baseline_miss_sync",
    "baseline_hot": "baseline_hot_sync",
    "baseline_list": "baseline_list_sync",
}


def runnable(scenarios: list[Scenario], cluster: str | None) -> list[Scenario]:
    """Those that can run: ``cluster`` is "remote" (BENCH_CLUSTER_URL, whose worker class
    is not ours to choose), "started" (bench.cluster, both classes) or None (no cluster)."""
    servers = {None: (), "remote": ("cluster",), "started": ("cluster", "cluster_sync")}
    skipped = {"cluster", "cluster_sync"} - set(servers[cluster])
    return [s for s in scenarios if s.server not in skipped]


def by_name(names: list[str] | None) -> list[Scenario]:
    if not names:
        return list(SCENARIOS)
    known = {s.name: s for s in SCENARIOS}
    missing = [n for n in names if n not in known]
    if missing:
        raise SystemExit(f"unknown scenarios: {', '.join(missing)}")
    return [known[n] for n in names]


def run_wrk(
    url: str,
    scenario: Scenario,
    *,
    duration: int,
    connections: int,
    env: dict[str, str],
    paths: Path | None,
) -> dict[str, object]:
    """One wrk run; returns bench.lua's JSON plus the command line used."""
    wrk_env = {**os.environ, "BENCH_MODE": scenario.mode, **env}
    if paths is not None:
        wrk_env["BENCH_PATHS"] = str(paths)
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA),
        url,
    ]
    done = subprocess.run(
        command, cwd=ROOT, env=wrk_env, capture_output=True, text=True, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            result = json.loads(line.removeprefix("BENCH_JSON "))
            result["command"] = " ".join(command[:-3] + ["bench.lua", url])
            return result
    raise RuntimeError(f"wrk gave no result for {scenario.name}:\n{done.stdout}\n{done.stderr}")


def run_mix(config: dict[str, object]) -> dict[str, object]:
    """One run of bench.mixgen in its own process; returns its JSON."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=OUT, delete=False) as handle:
        json.dump(config, handle)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.mixgen", handle.name],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=int(config["seconds"]) + 120,
        )
    finally:
        Path(handle.name).unlink()
    for line in done.stdout.splitlines():
        if line.startswith("MIX_JSON "):
            result = json.loads(line.removeprefix("MIX_JSON "))
            result["command"] = f"python -m bench.mixgen ({config['connections']} connections)"
            return result
    raise RuntimeError(f"bench.mixgen gave no result:\n{done.stdout}\n{done.stderr}")
