"""The prose parts of RESULTS.md: where and how the figures were measured."""

from __future__ import annotations

from typing import Any


def header(r: dict[str, Any]) -> list[str]:
    env, settings, quiet = r["environment"], r["settings"], r["quiet"]
    seed = r.get("seed")
    load = ", ".join(f"{x:.2f}" for x in quiet["load_before"])
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` on {env['date']} at commit `{env['commit']}`: "
        f"{env['cpu']}, {env['memory']}; {env['postgres']}; {env['redis']}; {env['wrk']}.",
        "",
        f"- Catalog: {settings['books']:,} books in PostgreSQL"
        + (
            f", bulk-loaded by `flask seed --books` in {seed['seed_s']:.0f} s "
            f"(COPY {seed['copy_s']:.0f} s, then VACUUM ANALYZE; "
            f"migrations {seed['migrate_s']:.1f} s)."
            if seed
            else " (reused from an earlier run)."
        ),
        f"- Load average before the runs: {load} "
        + (
            f"(waited {quiet['waited_s']} s for the 1-minute figure to drop below "
            f"{settings['quiet_load']})."
            if quiet["quiet"]
            else f"— **the machine never got quiet** (waited {quiet['waited_s']} s for a 1-minute "
            f"load below {settings['quiet_load']}); other work was running, so the absolute "
            "figures are low and noisy. Ratios come from interleaved rounds and suffer less."
        ),
        f"- Each scenario: `wrk -t1 -c{settings['connections']} -d{settings['duration']}s` on "
        f"loopback (exceptions in the scenario name), {settings['rounds']} interleaved rounds, "
        "medians; gunicorn `gthread` (the production worker class, "
        "`bookstore.serving.workers.BookstoreWorker`), "
        f"{settings['workers']} workers x {settings['threads']} threads for both the API and "
        "the baseline.",
    ]
    return lines


def method(r: dict[str, Any]) -> list[str]:
    s = r["settings"]
    plain = [
        "- **The API with limiter and cache off** is the same app served a third time, with"
        " `RATELIMIT_ENABLED=false` and `CACHE_ENABLED=false` (no Redis on a read), measured in"
        " the same rounds for the same requests as the uncached read and the cursor page.",
    ]
    if not any(name.endswith("_plain") for name in r["summary"]):
        plain = []
    return [
        "## How it is measured",
        "",
        "- **The API** runs as in production: `APP_ENV=production`, `gunicorn -c gunicorn.conf.py "
        "wsgi:app`, access log on (JSON lines to a file), PostgreSQL, Redis for the rate limiter,"
        " the response cache and token revocation. Every rate limit is raised to 1,000,000/minute"
        " (`RATELIMIT_*`), so the limiter does all its work on every request without refusing"
        " any.",
        "- **The baseline** (`bench/baseline.py`) is bare Flask + psycopg2 returning the same book"
        " JSON, served by the same gunicorn configuration twice, under the gthread worker and"
        " under the sync worker, in the same rounds. Ratios are the API's req/s over the faster"
        " of the two baselines in this run (the target rows name which).",
        *plain,
        "- **Cache misses**: before every run the benchmark's own Redis database is emptied"
        " (`FLUSHDB` of `BENCH_REDIS_URL`), so the response cache starts cold. A miss run walks"
        " a list of distinct URLs, so no URL repeats:"
        f" {s['books']:,}-book ids drawn without replacement; list pages with random filter"
        " values; pages at a fixed depth with the same cursor or page number but `sort` spelled"
        " differently (`id`, `+id`, `id,id`, ...), which the API parses into the same keys, so"
        " the database does exactly the same work while the cache key differs. The *X-Cache"
        " miss* column counts the `X-Cache` headers wrk saw.",
        "- **Cache hits**: the same 100 ids, requested twice before the run.",
        "- **Search** terms: a third single catalog words (each matches 6-13 % of the books), a"
        " third adjective-noun pairs, a third whole titles (`silent river 48213`).",
        "- **Orders**: one book of 1,000 with unlimited stock, quantity 1, a new"
        " `Idempotency-Key` per request, each request from the next of `BENCH_CUSTOMERS`"
        " customers (16; one customer's orders queue on their row, for the pending cap)."
        " **Login**: one customer's credentials, bcrypt cost 12, 4 connections.",
        "- **Latency percentiles** come from wrk's histogram (a `done()` hook prints p50-p99 as"
        " JSON); **errors** are responses that are not 2xx/3xx (counted by a `response()` hook)"
        " plus socket errors and timeouts.",
        "- **SQL / request** is counted in process: the first 40 requests of each scenario's list"
        " run through `app.test_client()` with the same settings and a `before_cursor_execute`"
        " listener (the lean read path fires it too). A hit counts 0.",
        "- **CPU per request** (`bench/cpu.py`): user + system time of every gunicorn worker,"
        " PostgreSQL backend and the Redis server, read from `/proc` before and after each run,"
        " and wrk's from its rusage, divided by the requests served. PostgreSQL's background"
        " processes are included.",
        "- **Connections**: PostgreSQL sessions opened during all measured runs:"
        f" {sum(m['new_db_sessions'] for m in r['summary'].values())}; the API held at most"
        f" {max(m.get('api_db_connections', 0) for m in r['summary'].values())} (its pools,"
        " sized to the threads, reuse their connections; the baseline's pool holds its own).",
        "",
        "Reproduce: `make bench` (docs/performance.md). Raw figures of every round:"
        " `bench/out/results.json`; server logs: `bench/out/*.log`.",
    ]
