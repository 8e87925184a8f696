"""The PNG plots RESULTS.md shows (matplotlib, no display needed)."""

from __future__ import annotations

import json
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench.dataset import DEPTHS  # noqa: E402
from bench.settings import OUT, PLOTS  # noqa: E402

APP, BASE = "#1f77b4", "#999999"


def _save(fig: Any, name: str) -> None:
    PLOTS.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(PLOTS / name, dpi=110)
    plt.close(fig)


def throughput(summary: dict[str, Any]) -> None:
    names = list(summary)
    values = [summary[n]["rps"] for n in names]
    colors = [BASE if n.startswith("baseline") else APP for n in names]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(names) + 1))
    ax.barh(names[::-1], values[::-1], color=colors[::-1])
    ax.set_xscale("log")
    ax.set_xlabel("requests per second (median of rounds, log scale)")
    for y, value in enumerate(values[::-1]):
        ax.text(value, y, f" {value:.0f}", va="center", fontsize=8)
    ax.set_title("Throughput (grey: bare Flask + psycopg2 baseline)")
    _save(fig, "throughput.png")


def latency(summary: dict[str, Any]) -> None:
    names = list(summary)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1))
    height = 0.27
    for i, (key, color) in enumerate((("p50", "#9ecae1"), ("p95", "#4292c6"), ("p99", "#08519c"))):
        ys = [len(names) - 1 - n + (1 - i) * height for n in range(len(names))]
        ax.barh(ys, [summary[n][key] for n in names], height=height, color=color, label=key)
    ax.set_yticks(range(len(names)), names[::-1])
    ax.set_xscale("log")
    ax.set_xlabel("latency, ms (log scale)")
    ax.legend(loc="lower right")
    ax.set_title("Latency percentiles")
    _save(fig, "latency.png")


def pagination(summary: dict[str, Any]) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for kind, color in (("cursor", APP), ("offset", "#d62728")):
        runs = [(d, summary.get(f"{kind}_{d}")) for d in DEPTHS]
        runs = [(d, m) for d, m in runs if m]
        if not runs:
            continue
        xs = [max(d, 1) for d, _ in runs]
        ax.plot(xs, [m["p99"] for _, m in runs], "o-", color=color, label=f"{kind} p99")
        ax.plot(xs, [m["p50"] for _, m in runs], "o--", color=color, alpha=0.5, label=f"{kind} p50")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("depth in rows (0 plotted at 1)")
    ax.set_ylabel("latency, ms")
    ax.set_title("Keyset cursor vs offset pages (20 rows)")
    ax.legend()
    _save(fig, "pagination.png")


def workers(r: dict[str, Any]) -> None:
    if "sync" not in r:
        return
    names = list(r["sync"])
    fig, ax = plt.subplots(figsize=(7, 3.5))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], [r["summary"][n]["rps"] for n in names], 0.4, label="gthread")
    ax.bar([x + 0.2 for x in xs], [r["sync"][n]["rps"] for n in names], 0.4, label="sync")
    ax.set_xticks(list(xs), names)
    ax.set_ylabel("requests per second")
    ax.set_title("gunicorn worker class")
    ax.legend()
    _save(fig, "workers.png")


def mix(r: dict[str, Any]) -> None:
    """The mixed workload: req/s and X-Cache hit rate per request class, with and without
    orders."""
    from bench.mixgen import CLASSES

    runs = r.get("mix", {})
    if "mix" not in runs or "mix_read" not in runs:
        return
    kinds = [k for k in CLASSES if runs["mix"]["classes"][k]["requests"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    xs = range(len(kinds))
    for offset, name, label, color in (
        (-0.2, "mix", "full mix", APP),
        (0.2, "mix_read", "orders removed", BASE),
    ):
        classes = runs[name]["classes"]
        left.bar(
            [x + offset for x in xs],
            [classes[k]["rps"] for k in kinds],
            0.4,
            color=color,
            label=label,
        )
        rates = [100 * (classes[k]["hit_rate"] or 0) for k in kinds]
        right.bar([x + offset for x in xs], rates, 0.4, color=color, label=label)
    for ax in (left, right):
        ax.set_xticks(list(xs), kinds, rotation=20)
        ax.legend()
    left.set_yscale("log")
    left.set_ylabel("requests per second (log scale)")
    left.set_title("Mixed workload: req/s per class")
    right.set_ylabel("X-Cache hit rate, %")
    right.set_ylim(0, 100)
    right.set_title("Cache hit rate per class")
    _save(fig, "mix.png")


def draw(r: dict[str, Any]) -> None:
    throughput(r["summary"])
    latency(r["summary"])
    pagination(r["summary"])
    workers(r)
    mix(r)


if __name__ == "__main__":
    draw(json.loads((OUT / "results.json").read_text()))
