"""Benchmark settings, every one from an environment variable (docs/performance.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bookstore.config import RATE_LIMITS

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"  # logs, request lists, raw results (git-ignored)
PLOTS = BENCH / "plots"
RESULTS_MD = BENCH / "RESULTS.md"
LUA = BENCH / "wrk" / "bench.lua"
RAISED_LIMIT = "1000000/minute"  # every RATELIMIT_* setting: limits on, never reached


def _env(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


@dataclass(frozen=True)
class Settings:
    database_url: str = field(
        default_factory=lambda: _env(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bookstore_bench_run"
        )
    )
    redis_url: str = field(
        default_factory=lambda: _env("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")
    )
    books: int = field(default_factory=lambda: int(_env("BENCH_BOOKS", "1000000")))
    rounds: int = field(default_factory=lambda: int(_env("BENCH_ROUNDS", "5")))
    duration: int = field(default_factory=lambda: int(_env("BENCH_DURATION", "10")))
    connections: int = field(default_factory=lambda: int(_env("BENCH_CONNECTIONS", "16")))
    wait_quiet: int = field(default_factory=lambda: int(_env("BENCH_WAIT_QUIET", "300")))
    quiet_load: float = field(default_factory=lambda: float(_env("BENCH_QUIET_LOAD", "1.0")))
    app_port: int = field(default_factory=lambda: int(_env("BENCH_APP_PORT", "8601")))
    baseline_port: int = field(default_factory=lambda: int(_env("BENCH_BASELINE_PORT", "8602")))
    # The API again, with the rate limiter and the response cache switched off: what the
    # two cost, measured in the same rounds (bench.loadgen.PLAIN).
    plain_port: int = field(default_factory=lambda: int(_env("BENCH_PLAIN_PORT", "8603")))
    # The baseline again under gunicorn's sync worker, in the same rounds: ratios are taken
    # against whichever of the two baselines is faster.
    baseline_sync_port: int = field(
        default_factory=lambda: int(_env("BENCH_BASELINE_SYNC_PORT", "8604"))
    )
    # The mixed workload (bench.mixgen): seconds per run and keep-alive connections.
    mix_duration: int = field(default_factory=lambda: int(_env("BENCH_MIX_DURATION", "20")))
    mix_connections: int = field(default_factory=lambda: int(_env("BENCH_MIX_CONNECTIONS", "16")))
    # A running nginx + two-instance cluster (`make cluster`): the mix runs against it too.
    cluster_url: str = field(default_factory=lambda: _env("BENCH_CLUSTER_URL", ""))
    # A CA file for the cluster's certificate; unset: trust the certificate it presents.
    cluster_ca: str = field(default_factory=lambda: _env("BENCH_CLUSTER_CA", ""))
    # Without BENCH_CLUSTER_URL: auto (nginx installed), on or off. The benchmark then starts
    # that layout itself (bench.cluster), once under gthread and once under sync workers.
    proxy: str = field(default_factory=lambda: _env("BENCH_PROXY", "auto"))
    # The clusters' ports follow this one: 8611-8614 for gthread, 8615-8618 for sync.
    cluster_port: int = field(default_factory=lambda: int(_env("BENCH_CLUSTER_PORT", "8610")))
    # Workers per instance; two instances of two make the API's four processes.
    cluster_workers: str = field(default_factory=lambda: _env("BENCH_CLUSTER_WORKERS", "2"))
    # The sync cluster's, if it should differ (one request at a time per worker); unset: the same.
    cluster_sync_workers: str = field(
        default_factory=lambda: _env("BENCH_CLUSTER_SYNC_WORKERS", "")
    )
    # Serve the API from another checkout (a before/after comparison); the baseline and the
    # harness always come from this one.
    app_dir: str = field(default_factory=lambda: _env("BENCH_APP_DIR", str(ROOT)))
    workers: str = field(default_factory=lambda: _env("WEB_CONCURRENCY", "4"))
    threads: str = field(default_factory=lambda: _env("GUNICORN_THREADS", "4"))
    # Only the SECRET_KEY is the benchmark's own (fixed, random-looking: production refuses
    # placeholders); everything else is the production default.
    secret_key: str = field(
        default_factory=lambda: _env("BENCH_SECRET_KEY", "Bn7qX2vR9kLmT4wZ8cHd1fJp6sYa3uEo0iGr5Qx")
    )
    password: str = "bench-Password-4821-zebra"  # noqa: S105
    customer_email: str = "customer@bench.example"
    # Orders come from this many customers, each request or mix connection taking the next:
    # a customer's orders queue on that customer's row (the pending cap), a shop's do not.
    customers: int = field(default_factory=lambda: int(_env("BENCH_CUSTOMERS", "16")))
    admin_email: str = "admin@bench.example"
    # Books 1..order_books get a stock that the order scenario cannot exhaust.
    order_books: int = 1000
    hot_books: int = 100  # the warmed set of the cache-hit scenarios

    def customer_emails(self) -> list[str]:
        """The customers orders come from, ``customer_email`` first."""
        more = [f"customer{n}@bench.example" for n in range(1, self.customers)]
        return [self.customer_email, *more]

    def app_env(self, **extra: str) -> dict[str, str]:
        """The environment gunicorn and the in-process app run with: production settings,
        and limits raised so the benchmark measures the limiter (and the pending-order cap)
        without hitting them."""
        env = {
            "APP_ENV": "production",
            "SECRET_KEY": self.secret_key,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "WEB_CONCURRENCY": self.workers,
            "GUNICORN_THREADS": self.threads,
            "LOG_LEVEL": "info",
            **dict.fromkeys(RATE_LIMITS, RAISED_LIMIT),
            # The load places unpaid orders for a few customers: the pending cap is lifted.
            "ORDER_MAX_PENDING": "100000000",
            # Tokens outlive the run: bench.run logs each server's customers in rarely (bcrypt).
            "JWT_ACCESS_TTL": "14400",
        }
        env.update(extra)
        return env
