"""How many PostgreSQL connections a ``make bench`` run may hold, checked before it starts.

Kept apart from bench.run so that its tests need none of the harness's plotting packages.
"""

from __future__ import annotations

import psycopg2

from bench.settings import Settings


def api_connections(processes: int, threads: int) -> int:
    """What an API server holds under load: up to three connections per thread, as the
    sessions counted by earlier runs showed (48 for four workers of four threads)."""
    return processes * threads * 3


def connections_needed(settings: Settings) -> int:
    """PostgreSQL connections a run with the clusters may hold at once, with a margin of 10."""
    workers, threads = int(settings.workers), int(settings.threads)
    needed = 2 * api_connections(workers, threads)  # the API and its plain twin
    needed += workers * threads + workers  # the baselines: gthread and sync
    needed += api_connections(2 * int(settings.cluster_workers), threads)  # two instances
    sync_workers = int(settings.cluster_sync_workers or settings.cluster_workers)
    needed += api_connections(2 * sync_workers, 1)
    return needed + 10


def check_connections(settings: Settings) -> None:
    """One clear line, before any server starts, when PostgreSQL allows too few connections
    for the clusters on top of the other servers (those alone fit in the default 100)."""
    with psycopg2.connect(settings.database_url) as conn, conn.cursor() as cur:
        cur.execute("SHOW max_connections")
        allowed = int(cur.fetchone()[0])
    conn.close()
    needed = connections_needed(settings)
    if allowed < needed:
        raise SystemExit(
            f"make bench: PostgreSQL allows {allowed} connections and the run with the nginx "
            f"clusters may hold {needed}: ALTER SYSTEM SET max_connections = {needed} and "
            "restart it, or run with BENCH_PROXY=off"
        )
