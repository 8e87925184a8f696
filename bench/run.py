"""``make bench``: seed a large catalog, serve it with gunicorn, drive it with wrk, report.

    python -m bench.run [--reuse-db] [--only book_miss,baseline_miss] [--no-sync]

Writes bench/out/results.json, then bench/RESULTS.md (``bench.report``) and bench/plots/*.png
(``bench.plots``). Settings come from BENCH_* environment variables (bench.settings).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import psycopg2
import redis

from bench import cluster, cpu, dataset, loadgen, mix, mixgen, plots, queries, report, servers
from bench.capacity import check_connections
from bench.settings import OUT, ROOT, Settings
from deploy.processes import find_nginx


def log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)


def load1() -> float:
    return os.getloadavg()[0]


def wait_for_quiet(settings: Settings) -> dict[str, Any]:
    """Poll until the 1-minute load average is below the threshold, for a while at most."""
    started = time.monotonic()
    deadline = started + settings.wait_quiet
    while load1() >= settings.quiet_load and time.monotonic() < deadline:
        time.sleep(10)
    quiet = load1() < settings.quiet_load
    waited = time.monotonic() - started
    log(f"load average {os.getloadavg()} after waiting {waited:.0f}s (quiet: {quiet})")
    return {"load_before": os.getloadavg(), "waited_s": round(waited), "quiet": quiet}


def sessions(settings: Settings) -> tuple[int, int]:
    """Sessions opened on the benchmark database so far (connection churn), and the API's
    connections open now (its pools)."""
    with psycopg2.connect(settings.database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT (SELECT sessions FROM pg_stat_database WHERE datname = current_database()),"
            " (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'bookstore')"
        )
        opened, open_now = cur.fetchone()
    conn.close()
    return int(opened), int(open_now)


TOKEN_REUSE = 600  # seconds; the API's default access-token lifetime is 900


class Runner:
    def __init__(self, settings: Settings, files: dict[str, Path], nginx: str | None) -> None:
        self.settings = settings
        self.files = files
        self.nginx = nginx  # start bench.cluster's two clusters with it
        self.redis = redis.Redis.from_url(settings.redis_url)
        self.servers: dict[str, Any] = {}
        # By server: when its customers logged in, and their access tokens.
        self.tokens: dict[str, tuple[float, list[str]]] = {}

    def customer_tokens(self, name: str) -> list[str]:
        """The customers' tokens on server ``name``, logged in (bcrypt) at its first use and
        again after TOKEN_REUSE seconds: a BENCH_CLUSTER_URL has its own token lifetime."""
        since, tokens = self.tokens.get(name, (0.0, []))
        if not tokens or time.monotonic() - since > TOKEN_REUSE:
            server = self.servers[name]
            tokens = mix.customer_tokens(self.settings, server.url, server.cafile)
            self.tokens[name] = (time.monotonic(), tokens)
        return tokens

    def start(self, worker_class: str, plain: bool = False) -> None:
        """The API and the baseline; with ``plain``, the API with limiter and cache off too.

        Under gthread the baseline runs a second time under the sync worker, in the same
        rounds (``baseline_sync``), and the cluster joins: BENCH_CLUSTER_URL, or else
        bench.cluster's, one under each worker class, when there is an nginx to run.
        """
        s = self.settings
        self.servers = {
            "app": servers.start(s, "app", "wsgi:app", s.app_port, worker_class),
            "baseline": servers.start(
                s, "baseline", "bench.baseline:app", s.baseline_port, worker_class
            ),
        }
        if worker_class == "gthread":
            self.servers["baseline_sync"] = servers.start(
                s, "baseline", "bench.baseline:app", s.baseline_sync_port, "sync"
            )
        if plain:
            self.servers["plain"] = servers.start(
                s, "plain", "wsgi:app", s.plain_port, worker_class, loadgen.PLAIN_ENV
            )
        if s.cluster_url:
            self.servers["cluster"] = servers.Remote("cluster", s.cluster_url, s.cluster_ca or None)
        elif self.nginx and worker_class == "gthread":
            for kind in cluster.WORKER_CLASSES:
                started = cluster.start(s, kind, self.nginx)
                self.servers[started.name] = started

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers = {}
        self.tokens = {}

    def once(self, scenario: loadgen.Scenario, duration: int) -> dict[str, Any]:
        server = self.servers[scenario.server]
        if not isinstance(server, servers.Remote):
            self.redis.flushdb()  # the benchmark's own Redis DB: a cold response cache
        context = mixgen.tls_context(server.url, server.cafile)
        env = {"BENCH_BOOKS": str(self.settings.order_books)}
        if scenario.auth:
            tokens = self.customer_tokens(scenario.server)
            if not tokens:
                raise SystemExit(f"make bench: no customer could log in on {server.url}")
            env["BENCH_TOKENS"] = ",".join(tokens)
        if scenario.mode == "login":
            env.update(
                BENCH_EMAIL=self.settings.customer_email, BENCH_PASSWORD=self.settings.password
            )
        paths = self.files[scenario.paths] if scenario.paths else None
        if scenario.warm and paths is not None:
            for _ in range(2):  # twice: a miss's entry is stored by its worker's next request
                for path in paths.read_text().split():
                    with urllib.request.urlopen(  # noqa: S310 - the benchmark's own servers
                        server.url + path, timeout=10, context=context
                    ) as response:
                        response.read()
        (before_sessions, _), before_load = sessions(self.settings), load1()
        cpu_before, children_before = cpu.snapshot(), _children_cpu()
        if scenario.mode == "mix":
            tokens = self.customer_tokens(scenario.server) if scenario.tags["orders"] else []
            config = mix.config(
                self.settings, self.files, scenario, server.url, duration, server.cafile, tokens
            )
            result = loadgen.run_mix(config)
        else:
            result = loadgen.run_wrk(
                server.url,
                scenario,
                duration=duration,
                connections=scenario.connections or self.settings.connections,
                env=env,
                paths=paths,
            )
        cpu_after = cpu.snapshot()
        result["cpu_us"] = cpu.per_request(
            cpu_before, cpu_after, result["requests"], _children_cpu() - children_before
        )
        result["busiest_worker"] = cpu.busiest_share(cpu_before, cpu_after)
        after_sessions, result["api_db_connections"] = sessions(self.settings)
        # Minus this check's own session.
        result["new_db_sessions"] = after_sessions - before_sessions - 1
        result["load1"] = round((before_load + load1()) / 2, 2)
        return result

    def rounds(self, scenarios: list[loadgen.Scenario], rounds: int) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {s.name: [] for s in scenarios}
        for number in range(1, rounds + 1):
            for scenario in scenarios:
                seconds = self.settings.duration
                if scenario.mode == "mix":
                    seconds = self.settings.mix_duration
                result = self.once(scenario, seconds)
                out[scenario.name].append(result)
                log(
                    f"round {number} {scenario.name}: {result['rps']:.0f} req/s, "
                    f"p99 {result['p99']:.1f} ms, errors {result['errors']}, "
                    f"miss {result['cache_misses']} hit {result['cache_hits']}"
                )
                if scenario.mode in WRITING_MODES:
                    settle(self.settings)
        return out


WRITING_MODES = ("order", "login", "mix")


def settle(settings: Settings) -> None:
    """VACUUM (ANALYZE) and CHECKPOINT after a scenario that wrote.

    Orders leave dead rows (stock updates, idempotency keys) and unanalysed tables behind;
    autovacuum and the checkpointer then work through them whenever they wake, on the
    CPU of whichever scenario runs next. The first of a round is the API's uncached read,
    and its baseline runs two scenarios later: cleaning up here keeps writes' aftermath
    out of every read's figures (about 2 s).
    """
    conn = psycopg2.connect(settings.database_url)
    try:
        conn.autocommit = True  # VACUUM refuses to run inside a transaction
        with conn.cursor() as cur:
            cur.execute("VACUUM (ANALYZE)")
            # Superuser or pg_checkpoint only; the VACUUM is the larger part anyway.
            with contextlib.suppress(psycopg2.errors.InsufficientPrivilege):
                cur.execute("CHECKPOINT")
    finally:
        conn.close()


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (wrk, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("rps", "p50", "p75", "p90", "p95", "p99", "mean")
    out: dict[str, Any] = {key: statistics.median(run[key] for run in runs) for key in keys}
    for key in ("requests", "errors", "socket_errors", "timeouts", "cache_hits", "cache_misses"):
        out[key] = sum(run[key] for run in runs)
    out["new_db_sessions"] = sum(run["new_db_sessions"] for run in runs)
    out["api_db_connections"] = max(run["api_db_connections"] for run in runs)
    out["rounds"] = len(runs)
    out["rps_all"] = [round(run["rps"], 1) for run in runs]
    out["p99_all"] = [round(run["p99"], 2) for run in runs]
    out["load1"] = [run["load1"] for run in runs]
    out["busiest_worker_all"] = [run.get("busiest_worker") for run in runs]
    if all("cpu_us" in run for run in runs):
        out["cpu_us"] = {
            group: statistics.median(run["cpu_us"][group] for run in runs)
            for group in runs[0]["cpu_us"]
        }
    return out


def environment() -> dict[str, Any]:
    def first_line(*command: str) -> str:
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
        lines = (done.stdout or done.stderr).strip().splitlines()
        return lines[0].strip() if lines else "?"

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": first_line("git", "rev-parse", "--short", "HEAD"),
        "cpu": f"{os.cpu_count()} x {cpu}",
        "memory": _mem_total(),
        "wrk": first_line("wrk", "-v").split(" Copyright")[0],
        "postgres": first_line("psql", "--version").replace("psql (PostgreSQL)", "PostgreSQL"),
        "redis": " ".join(first_line("redis-server", "--version").split()[:3]),
    }


def _app_commit(settings: Settings) -> str:
    """The commit the API is served from (BENCH_APP_DIR may be another checkout)."""
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        cwd=settings.app_dir,
    )
    return done.stdout.strip() or "?"


def _mem_total() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse-db", action="store_true", help="keep a seeded database")
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--no-sync", action="store_true", help="skip the sync-worker runs")
    parser.add_argument("--no-report", action="store_true", help="results.json only")
    parser.add_argument("--out", default=str(OUT / "results.json"), help="results file")
    parser.add_argument("--no-queries", action="store_true", help="skip the SQL counts")
    parser.add_argument(
        "--before",
        help="results.json of an earlier run (BENCH_APP_DIR=<older checkout>) to report "
        "next to this one",
    )
    args = parser.parse_args()
    settings = Settings()
    scenarios = loadgen.by_name(args.only.split(",") if args.only else None)
    results: dict[str, Any] = {"settings": {k: v for k, v in vars(settings).items()}}
    results["environment"] = environment()
    if args.before:
        before = json.loads(Path(args.before).read_text())
        results["before"] = {
            "commit": before.get("app_commit") or before["environment"]["commit"],
            "summary": before["summary"],
        }
    results["app_commit"] = _app_commit(settings)

    nginx = None
    if not settings.cluster_url:
        found = find_nginx()
        nginx = found if cluster.enabled(settings.proxy, found) else None
    if not args.reuse_db:
        log(f"creating {settings.database_url} and loading {settings.books:,} books")
        dataset.recreate_database(settings)
        results["seed"] = dataset.seed(settings)
        log(f"seeded: {results['seed']}")
    dataset.prepare_accounts_and_stock(settings)
    redis.Redis.from_url(settings.redis_url).flushdb()
    files = dataset.request_lists(settings)
    scenarios = [s for s in scenarios if s.paths is None or s.paths in files]
    layout = "remote" if settings.cluster_url else ("started" if nginx else None)
    scenarios = loadgen.runnable(scenarios, layout)
    if layout == "started" and not any(s.server in cluster.SERVERS.values() for s in scenarios):
        nginx, layout = None, None  # no cluster scenario selected: none started
    if layout == "started":
        check_connections(settings)
    results["cluster"] = cluster.describe(settings, layout)

    if not args.no_queries:
        log("counting SQL statements per request in process")
        results["queries"] = queries.count_all(settings, files)

    results["quiet"] = wait_for_quiet(settings)
    runner = Runner(settings, files, nginx)
    try:
        runner.start("gthread", plain=any(s.server == "plain" for s in scenarios))
        log("warm-up: every scenario once, 2 s, not recorded")
        for scenario in scenarios:
            runner.once(scenario, 2)
        settle(settings)
        raw = runner.rounds(scenarios, settings.rounds)
        results["runs"] = raw
        results["summary"] = {name: medians(runs) for name, runs in raw.items()}
        results["mix"] = mix.class_medians(raw)
        runner.stop()
        if not args.no_sync:
            sync = [s for s in scenarios if s.name in loadgen.WORKER_CLASS_SCENARIOS]
            if sync:
                runner.start("sync")
                raw_sync = runner.rounds(sync, settings.rounds)
                results["sync"] = {name: medians(runs) for name, runs in raw_sync.items()}
    finally:
        runner.stop()
    results["load_after"] = os.getloadavg()
    OUT.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=str))
    log(f"wrote {args.out}")
    if not args.no_report:
        report.write(results)
        plots.draw(results)


if __name__ == "__main__":
    main()
