"""The target rows of RESULTS.md: ratios to the faster baseline, p99s, statement counts."""

from __future__ import annotations

from typing import Any

from bench.loadgen import BASELINE_TWINS, SCENARIOS

LABELS = {s.name: s.label for s in SCENARIOS}


def ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def rps_ratio(summary: dict[str, Any], app: str, base: str) -> str:
    return f"{ratio(summary[app]['rps'], summary[base]['rps']):.2f}"


def round_ratios(r: dict[str, Any], app: str, base: str) -> list[float]:
    """The req/s ratio in each round (the two scenarios of a round run seconds apart)."""
    pairs = zip(r.get("runs", {}).get(app, []), r.get("runs", {}).get(base, []), strict=False)
    return [ratio(a["rps"], b["rps"]) for a, b in pairs]


def faster_baseline(summary: dict[str, Any], base: str) -> str:
    """``base`` or its sync-worker twin, whichever served more req/s in this run."""
    twin = BASELINE_TWINS.get(base)
    if twin in summary and (base not in summary or summary[twin]["rps"] > summary[base]["rps"]):
        return twin
    return base


def _worker(base: str) -> str:
    return "sync" if base.endswith("_sync") else "gthread"


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool]]:
    s = r["summary"]
    rows: list[tuple[str, str, bool]] = []

    def ratio_row(name: str, base: str, goal: float) -> None:
        base = faster_baseline(s, base)
        if name in s and base in s:
            value = ratio(s[name]["rps"], s[base]["rps"])
            text = f"{value:.2f}"
            rounds = round_ratios(r, name, base)
            if len(rounds) > 1:
                text += f" (by round: {' / '.join(f'{x:.2f}' for x in rounds)})"
            what = f"{LABELS[name]} vs {_worker(base)} baseline >= {goal}"
            rows.append((what, text, value >= goal))

    ratio_row("book_miss", "baseline_miss", 0.8)
    ratio_row("book_miss_auth", "baseline_miss", 0.8)
    ratio_row("book_hit", "baseline_hot", 1.2)
    ratio_row("book_hit_auth", "baseline_hot", 1.2)
    ratio_row("cursor_0", "baseline_list", 0.6)
    base = faster_baseline(s, "baseline_miss")
    if "book_miss" in s and base in s:
        value = ratio(s["book_miss"]["p99"], s[base]["p99"])
        rows.append(
            (
                f"{LABELS['book_miss']} p99 <= 1.5 x the {_worker(base)} baseline's",
                f"{value:.2f} x ({ms(s['book_miss']['p99'])} vs {ms(s[base]['p99'])} ms)",
                value <= 1.5,
            )
        )
    if "cursor_0" in s and "cursor_500000" in s:
        value = ratio(s["cursor_500000"]["p99"], s["cursor_0"]["p99"])
        rows.append(
            (
                "cursor page p99 at depth 500,000 <= 1.5 x page 1",
                f"{value:.2f} x ({ms(s['cursor_500000']['p99'])} vs {ms(s['cursor_0']['p99'])} ms)",
                value <= 1.5,
            )
        )
    if "search_c1" in s:
        p99 = s["search_c1"]["p99"]
        rows.append(("full-text search p99 < 50 ms, 1 client", f"{ms(p99)} ms", p99 < 50))
    # Constant in page size: the same statement counts at 10 and at 100 rows a page. A
    # search may take 2 or 3 (an estimate only when more than the count limit match):
    # that depends on the term, not the page size.
    constant = all(
        row["per_page_10"]["queries_min"] == row["per_page_100"]["queries_min"]
        and row["per_page_10"]["queries_max"] == row["per_page_100"]["queries_max"]
        for row in r["queries"]["per_page"]
    )
    counts = ", ".join(
        f"{row['scenario']} {row['per_page_10']['queries_max']}/"
        f"{row['per_page_100']['queries_max']}"
        for row in r["queries"]["per_page"]
    )
    rows.append(("SQL statements per request constant in page size (10 / 100)", counts, constant))
    return rows
