"""CPU time per request, split by process: the API's or the baseline's gunicorn, PostgreSQL,
Redis and the load generator.

Throughput on a 2-core machine is shared by everything on it, and a busy neighbour moves
req/s from run to run. CPU seconds spent per request by each process are steadier, and
they say where a scenario's cost lies: in Python, in the database or in Redis. Read from
``/proc/<pid>/stat`` (user + system time) before and after a run; wrk's own share is taken
from its rusage when it exits.
"""

from __future__ import annotations

import os
from pathlib import Path

GROUPS = ("api", "baseline", "postgres", "redis")


def _group(cmdline: str) -> str | None:
    if "bench.baseline" in cmdline:
        return "baseline"
    if "wsgi:app" in cmdline:
        return "api"
    if cmdline.startswith("postgres"):
        return "postgres"
    if cmdline.startswith("redis-server"):
        return "redis"
    return None


def snapshot() -> dict[tuple[int, str], float]:
    """CPU seconds so far of every process that belongs to a group, by (pid, group)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[tuple[int, str], float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        group = _group(cmdline)
        if group is None:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[(int(entry.name), group)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def per_request(
    before: dict[tuple[int, str], float],
    after: dict[tuple[int, str], float],
    requests: int,
    wrk_seconds: float,
) -> dict[str, float]:
    """Microseconds of CPU per request by group, and their total (wrk included)."""
    spent = dict.fromkeys(GROUPS, 0.0)
    for key, seconds in after.items():
        spent[key[1]] += seconds - before.get(key, 0.0)  # new processes count from zero
    spent["wrk"] = wrk_seconds
    n = max(requests, 1)
    out = {group: round(1e6 * seconds / n) for group, seconds in spent.items()}
    out["total"] = sum(out.values())
    return out


def busiest_share(
    before: dict[tuple[int, str], float], after: dict[tuple[int, str], float]
) -> float | None:
    """The share of the server's CPU (API or baseline) spent by its busiest process.

    A worker keeps the keep-alive connections it accepts, so how wrk's connections were
    split shows here: 0.25 is an even split over four workers, near 1.0 means one process
    (one GIL) served nearly everything (plain gthread's first worker to wake often did).
    """
    spent = [
        seconds - before.get(key, 0.0)
        for key, seconds in after.items()
        if key[1] in ("api", "baseline")
    ]
    total = sum(spent)
    return round(max(spent) / total, 2) if spent and total > 0 else None
