"""bench/RESULTS.md from bench/out/results.json (bench.plots draws bench/plots/*.png).

Everything above the marker line in RESULTS.md is regenerated; the notes below it (the
profile and what was changed because of it) are kept.

    python -m bench.report && python -m bench.plots   # both again from the last results.json
"""

from __future__ import annotations

import json
from typing import Any

from bench import report_mix
from bench.dataset import DEPTHS
from bench.report_targets import LABELS, ms, ratio, round_ratios, rps_ratio, targets
from bench.settings import OUT, RESULTS_MD

MARKER = "<!-- Everything above is written by `make bench`; notes below this line are kept. -->"
# The API's GET /v1/books/{id} scenario and the baseline's it is compared with.
BOOK_PAIRS = (("miss", "book_miss", "baseline_miss"), ("hit", "book_hit", "baseline_hot"))


def main_table(r: dict[str, Any]) -> list[str]:
    out = [
        "| scenario | req/s | p50 ms | p95 ms | p99 ms | errors | X-Cache miss | SQL / request |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    counted = r["queries"]["scenarios"]
    for name, m in r["summary"].items():
        cache = m["cache_hits"] + m["cache_misses"]
        miss = f"{100 * m['cache_misses'] / cache:.1f} %" if cache else "–"
        errors = f"{100 * (m['errors'] + m['socket_errors']) / max(m['requests'], 1):.2f} %"
        sql = "–"
        if name in counted:
            q = counted[name]
            sql = f"{q['queries_mean']:.2f}"
            if q["queries_min"] != q["queries_max"]:
                sql += f" ({q['queries_min']}–{q['queries_max']})"
        out.append(
            f"| {LABELS.get(name, name)} | {m['rps']:.0f} | {ms(m['p50'])} | {ms(m['p95'])} "
            f"| {ms(m['p99'])} | {errors} | {miss} | {sql} |"
        )
    return out


def pages_table(r: dict[str, Any]) -> list[str]:
    s = r["summary"]
    out = [
        "| depth (rows) | cursor req/s | cursor p50 / p99 ms "
        "| offset req/s | offset p50 / p99 ms |",
        "|---:|---:|---:|---:|---:|",
    ]
    for depth in DEPTHS:
        c, o = s.get(f"cursor_{depth}"), s.get(f"offset_{depth}")
        cells = []
        for m in (c, o):
            cells += [f"{m['rps']:.0f}", f"{ms(m['p50'])} / {ms(m['p99'])}"] if m else ["–", "–"]
        out.append(f"| {depth:,} | " + " | ".join(cells) + " |")
    return out


def per_page_table(r: dict[str, Any]) -> list[str]:
    out = ["| request | per_page=10 | per_page=100 |", "|---|---:|---:|"]
    for row in r["queries"]["per_page"]:
        cells = [
            f"{row[k]['queries_min']}–{row[k]['queries_max']}"
            if row[k]["queries_min"] != row[k]["queries_max"]
            else str(row[k]["queries_min"])
            for k in ("per_page_10", "per_page_100")
        ]
        out.append(f"| {LABELS.get(row['scenario'], row['scenario'])} | {cells[0]} | {cells[1]} |")
    return out


def workers_table(r: dict[str, Any]) -> list[str]:
    if "sync" not in r:
        return ["(not measured in this run)"]
    out = [
        "| scenario | gthread req/s | gthread p99 ms | sync req/s | sync p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, m in r["sync"].items():
        g = r["summary"][name]
        out.append(
            f"| {LABELS[name]} | {g['rps']:.0f} | {ms(g['p99'])} | {m['rps']:.0f} "
            f"| {ms(m['p99'])} |"
        )
    for kind, app, base in BOOK_PAIRS:
        if app in r["sync"] and base in r["sync"]:
            out.append(
                f"\nRatio to the baseline on a cache {kind}: gthread "
                f"{rps_ratio(r['summary'], app, base)}, sync {rps_ratio(r['sync'], app, base)}."
            )
    return out


# The scenarios run through nginx under both worker classes (bench.loadgen.CLUSTER), by
# their name straight to gunicorn.
PROXIED = ("book_miss", "book_hit", "mix", "mix_read")


def _errors(m: dict[str, Any]) -> str:
    return str(m["errors"] + m["socket_errors"] + m.get("timeouts", 0))


def proxied_workers_table(r: dict[str, Any]) -> list[str]:
    """gthread against sync behind nginx, scenario by scenario; the API straight to gunicorn
    (gthread) beside them."""
    s = r["summary"]
    rows = [name for name in PROXIED if f"cluster_{name}" in s and f"cluster_{name}_sync" in s]
    if not rows:
        return ["(not measured in this run: no nginx, or BENCH_PROXY=off)"]
    c = r["cluster"]
    w = c["workers_per_instance"]
    each = f"{w['gthread']} workers each" + (
        f" ({w['sync']} under sync)" if w["sync"] != w["gthread"] else ""
    )
    out = [
        f"nginx (TLS, HTTP/1.1 keep-alive from the client) in front of {c['instances']} gunicorn"
        f" instances of {each}, started by the benchmark"
        " (`bench/cluster.py`, the code of `make cluster`) on its database and Redis: once under"
        f" the production gthread worker ({c['threads']['gthread']} threads) and once under"
        " `sync` (1 thread; gunicorn would run gthread otherwise). Both clusters run side by side"
        " and take turns within each round; the cache is emptied before every run. Medians of"
        " the rounds, errors summed.",
        "",
        "| scenario | gthread req/s | gthread p50 / p99 ms | gthread errors "
        "| sync req/s | sync p50 / p99 ms | sync errors | straight to gunicorn req/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in rows:
        g, y = s[f"cluster_{name}"], s[f"cluster_{name}_sync"]
        direct = f"{s[name]['rps']:.0f}" if name in s else "–"
        out.append(
            f"| {LABELS.get(name, name)} | {g['rps']:.0f} | {ms(g['p50'])} / {ms(g['p99'])} "
            f"| {_errors(g)} | {y['rps']:.0f} | {ms(y['p50'])} / {ms(y['p99'])} | {_errors(y)} "
            f"| {direct} |"
        )
    out += ["", verdict(s, rows)]
    return out


def verdict(summary: dict[str, Any], names: list[str]) -> str:
    """Which worker class the figures favour behind nginx: req/s and p99, scenario by scenario."""
    faster = [
        n for n in names if summary[f"cluster_{n}_sync"]["rps"] > summary[f"cluster_{n}"]["rps"]
    ]
    lower = [
        n for n in names if summary[f"cluster_{n}_sync"]["p99"] < summary[f"cluster_{n}"]["p99"]
    ]
    total = len(names)
    text = (
        f"sync served more req/s in {len(faster)} of {total} scenarios and had the lower p99 in"
        f" {len(lower)} of {total}."
    )
    if len(faster) == total and len(lower) == total:
        return f"By these figures sync is the better class behind nginx: {text}"
    if not faster and not lower:
        return f"By these figures gthread is the better class behind nginx: {text}"
    return f"By these figures neither class wins every scenario: {text}"


def before_after_table(r: dict[str, Any]) -> list[str]:
    """This run next to an earlier one (``--before``): the same scenarios, the same machine."""
    before, after = r["before"]["summary"], r["summary"]
    out = [
        f"Before: the API at commit `{r['before']['commit']}`; after: `{r.get('app_commit', '?')}`"
        " (this run). Each side's baseline was measured in its own run, so the ratio columns"
        " compare like with like.",
        "",
        "| scenario | before req/s | before p99 ms | after req/s | after p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, m in after.items():
        b = before.get(name)
        if b is None:
            continue
        out.append(
            f"| {LABELS.get(name, name)} | {b['rps']:.0f} | {ms(b['p99'])} | {m['rps']:.0f} "
            f"| {ms(m['p99'])} |"
        )
    for kind, app, base in BOOK_PAIRS:
        if all(app in x and base in x for x in (before, after)):
            out.append(
                f"\nGET /v1/books/{{id}} on a cache {kind} as a ratio of the baseline: before "
                f"{rps_ratio(before, app, base)}, after {rps_ratio(after, app, base)}."
            )
    return out


# (what, the API as served, the same API with limiter and cache off, the baseline)
PLAIN_TRIPLES = (
    ("GET /v1/books/{id}, cache miss", "book_miss", "book_miss_plain", "baseline_miss"),
    ("cursor page at depth 0", "cursor_0", "cursor_0_plain", "baseline_list"),
)


def plain_table(r: dict[str, Any]) -> list[str]:
    """The API as served, the API with limiter and cache off, and the baseline, side by side."""
    s = r["summary"]
    triples = [t for t in PLAIN_TRIPLES if all(name in s for name in t[1:])]
    if not triples:
        return []
    out = [
        "The API served a third time, with `RATELIMIT_ENABLED=false` and `CACHE_ENABLED=false`, "
        "in the same rounds and for the same requests: how much of the distance to the "
        "baseline the two features account for. Req/s, and in brackets CPU per request "
        "(server + Redis, µs).",
        "",
        "| request | baseline | API, limiter and cache off | API as served "
        "| off / baseline | served / baseline |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def cell(name: str) -> str:
        c = s[name].get("cpu_us")
        spent = f" ({c['api'] + c['baseline'] + c['redis']:.0f})" if c else ""
        return f"{s[name]['rps']:.0f}{spent}"

    for what, served, plain, base in triples:
        off_rounds = round_ratios(r, plain, base)
        by_round = f" (rounds {min(off_rounds):.2f}-{max(off_rounds):.2f})" if off_rounds else ""
        out.append(
            f"| {what} | {cell(base)} | {cell(plain)} | {cell(served)} "
            f"| {rps_ratio(s, plain, base)}{by_round} | {rps_ratio(s, served, base)} |"
        )
    return out


def cpu_table(r: dict[str, Any]) -> list[str]:
    """Where each scenario's CPU goes: microseconds per request by process (medians)."""
    out = [
        "| scenario | server (API or baseline) | PostgreSQL | Redis | wrk | total "
        "| busiest worker's share, by round |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, m in r["summary"].items():
        c = m.get("cpu_us")
        if c is None:
            continue
        server = c["api"] + c["baseline"]
        shares = " / ".join(f"{x:.2f}" for x in m.get("busiest_worker_all", []) if x is not None)
        out.append(
            f"| {LABELS.get(name, name)} | {server:.0f} | {c['postgres']:.0f} | {c['redis']:.0f} "
            f"| {c['wrk']:.0f} | {c['total']:.0f} | {shares or '–'} |"
        )
    s = r["summary"]
    for kind, app, base in BOOK_PAIRS:
        if "cpu_us" in s.get(app, {}) and "cpu_us" in s.get(base, {}):
            out.append(
                f"\nCPU per request, baseline over API, on a cache {kind}: "
                f"{ratio(s[base]['cpu_us']['total'], s[app]['cpu_us']['total']):.2f} "
                "(what the req/s ratio tends to when the machine is the only limit)."
            )
    out.append(
        "\nThe last column is the share of the server's CPU spent by its busiest process: 0.25 "
        "is an even split over four workers. A worker keeps the keep-alive connections it "
        "accepts; plain gthread let the first to wake take most of wrk's 16 (a round where one "
        "process, one GIL, served them ran at up to half speed), and the production worker "
        "class leaves new connections to a worker with a free thread."
    )
    return out


def render(r: dict[str, Any]) -> str:
    from bench.report_text import header, method

    lines = header(r)
    lines += ["", "## Targets (reported, not asserted)", "", "| target | measured | met |"]
    lines += ["|---|---|---|"]
    rows = targets(r) + report_mix.targets(r)
    lines += [f"| {t} | {v} | {'yes' if ok else '**no**'} |" for t, v, ok in rows]
    lines += ["", "## Every scenario (medians of the rounds)", "", *main_table(r)]
    lines += ["", "![throughput](plots/throughput.png)", "", "![latency](plots/latency.png)"]
    if any("cpu_us" in m for m in r["summary"].values()):
        lines += ["", "## CPU per request, by process (µs, medians)", "", *cpu_table(r)]
    plain = plain_table(r)
    if plain:
        lines += ["", "## What the rate limiter and the response cache cost", "", *plain]
    lines += ["", *report_mix.section(r)]
    lines += ["", "## Pagination depth", "", *pages_table(r), "", "![pages](plots/pagination.png)"]
    lines += ["", "## SQL statements per request against page size", "", *per_page_table(r)]
    if "before" in r:
        lines += ["", "## Before and after the profile", "", *before_after_table(r)]
    lines += ["", "## Worker class", "", *workers_table(r)]
    if "sync" in r:
        lines += ["", "![workers](plots/workers.png)"]
    if r.get("cluster", {}).get("layout") == "started":
        lines += ["", "## Worker class behind nginx", "", *proxied_workers_table(r)]
    lines += ["", *method(r)]
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any]) -> None:
    kept = ""
    if RESULTS_MD.exists():
        _, found, tail = RESULTS_MD.read_text().partition(MARKER)
        kept = tail if found else ""
    RESULTS_MD.write_text(render(results) + "\n" + MARKER + (kept or "\n"))


if __name__ == "__main__":
    write(json.loads((OUT / "results.json").read_text()))
