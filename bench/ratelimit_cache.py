"""What the rate limiter and the response cache cost per request, in process.

Runs GET /v1/books/<id> through the Flask test client (no sockets, no gunicorn, so the
differences are ours alone) in interleaved rounds, with the limiter and the cache off,
the limiter on, and both on (cache hits, then misses), and times Redis round trips.

    DATABASE_URL=... REDIS_URL=... python bench/ratelimit_cache.py [--requests 2000]

Needs a seeded catalog (``make seed``) and a Redis it may write rate-limit keys to.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("APP_ENV", "development")
os.environ.setdefault("LOG_LEVEL", "ERROR")

from sqlalchemy import select  # noqa: E402

from bench.inprocess import clear_cache  # noqa: E402
from bookstore import create_app  # noqa: E402
from bookstore.extensions import db  # noqa: E402
from bookstore.models import Book  # noqa: E402

SETUPS = {
    "limiter off, cache off": {"RATELIMIT_ENABLED": False, "CACHE_ENABLED": False},
    "limiter on, cache off": {"CACHE_ENABLED": False},
    "limiter on, cache hit": {},
    "limiter on, cache miss": {},  # the generation moves before every request
}
# Requests come from 2,000 client addresses (behind one trusted proxy), so that each
# window stays under the default limit as real clients' do.
BEHIND_PROXY = {"TRUSTED_PROXIES": 1}
CLIENTS = [{"X-Forwarded-For": f"10.1.{n // 250}.{n % 250}"} for n in range(2000)]


def per_request_us(client, path: str, count: int, miss: bool = False) -> float:
    spent = 0.0
    for n in range(count):
        if miss:  # not timed: what a write elsewhere does to every entry
            clear_cache(client.application)
        started = time.perf_counter()
        client.get(path, headers=CLIENTS[n % len(CLIENTS)])
        spent += time.perf_counter() - started
    return spent / count * 1e6


def redis_round_trips(app, count: int) -> dict[str, float]:
    """Plain redis-py round trips to the app's Redis: the floor under any Redis feature."""
    import redis

    client = redis.Redis.from_url(app.config["REDIS_URL"])
    calls = {"PING": client.ping, "GET (a missing key)": lambda: client.get("bench:missing")}
    out = {}
    for name, call in calls.items():
        call()
        started = time.perf_counter()
        for _ in range(count):
            call()
        out[name] = (time.perf_counter() - started) / count * 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    apps = {name: create_app({**BEHIND_PROXY, **cfg}) for name, cfg in SETUPS.items()}
    first = next(iter(apps.values()))
    with first.app_context():
        book_id = db.session.execute(select(Book.id).limit(1)).scalar()
    if book_id is None:
        raise SystemExit("The catalog is empty: run `make seed` first.")
    path = f"/v1/books/{book_id}"
    clients = {name: app.test_client() for name, app in apps.items()}
    for client in clients.values():
        per_request_us(client, path, 100)  # warm up: pools, scripts, the cache entry

    samples: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(args.rounds):
        for name, client in clients.items():
            samples[name].append(per_request_us(client, path, args.requests, "miss" in name))
    base = statistics.median(samples["limiter off, cache off"])
    print(f"GET {path}, {args.requests} requests x {args.rounds} rounds, median per request")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"  {name:<24} {median:8.1f} us  ({median - base:+7.1f} us)")
    if first.config["REDIS_URL"]:
        print("Redis round trips (redis-py), mean of one loop")
        for name, value in redis_round_trips(first, args.requests).items():
            print(f"  {name:<30} {value:6.1f} us")


if __name__ == "__main__":
    main()
