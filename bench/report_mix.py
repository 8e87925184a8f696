"""The mixed-workload part of RESULTS.md: per request class, full mix against read-only."""

from __future__ import annotations

from typing import Any

from bench import mixgen
from bench.report_targets import ms

LABELS = {
    "book": "GET /v1/books/{id} (Zipf popularity)",
    "list": "list and filter pages",
    "search": "full-text search",
    "order": "POST /v1/orders (new key)",
    "order_retry": "POST /v1/orders (same key again)",
    "login": "POST /v1/auth/login",
}
# (the full mix, the same without orders, where)
PAIRS = (
    ("mix", "mix_read", "the API"),
    ("cluster_mix", "cluster_mix_read", "the cluster"),
    ("cluster_mix_sync", "cluster_mix_read_sync", "the cluster, sync workers"),
)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool]]:
    s, mix = r["summary"], r.get("mix", {})
    rows = []
    for full, read, where in PAIRS:
        if full not in mix or read not in mix:
            continue
        with_orders, without = mix[full]["read_hit_rate"], mix[read]["read_hit_rate"]
        if with_orders is not None and without:
            value = with_orders / without
            rows.append(
                (
                    f"{where}: cache hit rate on reads with orders >= 0.8 x without",
                    f"{value:.2f} ({_pct(with_orders)} vs {_pct(without)})",
                    value >= 0.8,
                )
            )
        value = s[full]["rps"] / s[read]["rps"] if s[read]["rps"] else float("nan")
        rows.append(
            (
                f"{where}: mixed-workload req/s with orders >= 0.85 x read-only mix",
                f"{value:.2f} ({s[full]['rps']:.0f} vs {s[read]['rps']:.0f})",
                value >= 0.85,
            )
        )
    return rows


def _table(r: dict[str, Any], full: str, read: str) -> list[str]:
    s, mix = r["summary"], r["mix"]
    out = [
        "| request class | mix | req/s | p50 ms | p95 ms | p99 ms | errors | X-Cache hit rate |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in mixgen.CLASSES:
        for name, what in ((full, "full"), (read, "read-only")):
            row = mix[name]["classes"][kind]
            if row["requests"] == 0:
                continue
            errors = f"{row['errors']}" + (f" {row['statuses']}" if row["statuses"] else "")
            out.append(
                f"| {LABELS[kind]} | {what} | {row['rps']:.0f} | {ms(row['p50'])} "
                f"| {ms(row['p95'])} | {ms(row['p99'])} | {errors} | {_pct(row['hit_rate'])} |"
            )
    for name, what in ((full, "full"), (read, "read-only")):
        m = s[name]
        errors = m["errors"] + m["socket_errors"]
        out.append(
            f"| **all requests** | {what} | {m['rps']:.0f} | {ms(m['p50'])} | {ms(m['p95'])} "
            f"| {ms(m['p99'])} | {errors} | reads: {_pct(mix[name]['read_hit_rate'])} |"
        )
    return out


def section(r: dict[str, Any]) -> list[str]:
    mix = r.get("mix", {})
    if "mix" not in mix or "mix_read" not in mix:
        return []
    st = r["settings"]
    shares = ", ".join(f"{k} {100 * v:g} %" for k, v in mixgen.MIX.items())
    lines = [
        "## Mixed workload",
        "",
        f"`bench/mixgen.py`, a process of its own: {st['mix_connections']} keep-alive"
        f" connections for {st['mix_duration']} s a run, in the same rounds as the rest."
        f" Classes: {shares}; {100 * mixgen.ORDER_RETRY:g} % of the orders are sent again with"
        " the same Idempotency-Key. Reads by id follow a Zipf-like popularity: 1 % of the"
        " books draw about half of them. *Read-only* is the same mix with orders removed, so"
        " the difference is what order traffic (stock writes, hence cache invalidation) costs."
        " Every run starts with an empty cache; medians of the rounds, requests and errors"
        " summed.",
        "",
        *_table(r, "mix", "mix_read"),
        "",
        "![mixed workload](plots/mix.png)",
        "",
        "### Through nginx and two instances (`make cluster`)",
        "",
    ]
    return lines + cluster_section(r)


def cluster_section(r: dict[str, Any]) -> list[str]:
    mix, layout = r.get("mix", {}), r.get("cluster", {}).get("layout")
    if "cluster_mix" not in mix or "cluster_mix_read" not in mix:
        return [
            "Not measured (nginx is not installed or `BENCH_PROXY=off`; or set"
            " `BENCH_CLUSTER_URL` to a running `make cluster`, e.g. `https://127.0.0.1:8443`)."
        ]
    if layout == "remote":
        return [
            f"The same mix against `{r['settings']['cluster_url']}` (TLS), in the same rounds;"
            " the cluster's cache is not emptied between runs (its Redis is its own).",
            "",
            *_table(r, "cluster_mix", "cluster_mix_read"),
        ]
    lines = [
        "The same mix, the same requests, through nginx (TLS) and two instances started by the"
        " benchmark on its database and Redis (`bench/cluster.py`), in the same rounds, with"
        " the cache emptied before every run. Under the production gthread worker:",
        "",
        *_table(r, "cluster_mix", "cluster_mix_read"),
    ]
    if "cluster_mix_sync" in mix and "cluster_mix_read_sync" in mix:
        lines += [
            "",
            "Under sync workers:",
            "",
            *_table(r, "cluster_mix_sync", "cluster_mix_read_sync"),
        ]
    return lines
