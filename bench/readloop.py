"""Uncached ``GET /v1/books/{id}`` in a loop, in this process: no gunicorn, no load generator.

    python -m bench.readloop [api|baseline] [--requests N] [--pages] [--profile [--sort cumulative]]
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=sys_call_tracing \
        python -m bench.readloop api --requests 600

``--pages`` reads 20-book list pages instead: the API's cursor pages at depth 0 (distinct
spellings of one cursor, from the request lists ``make bench`` writes, so every one is a
miss) and the baseline's keyset page of the same 20 books.

Calls the WSGI app directly with a minimal environ, for distinct random ids of the
benchmark database (``make bench`` seeds it), after emptying the benchmark's own Redis
database (BENCH_REDIS_URL) so every read is a miss. Prints CPU per request (user and
system) and, with ``--profile``, the functions cProfile finds busiest.

Timings move with whatever else the machine does; instructions counted by callgrind do
not, if only the timed requests are counted. The loop runs inside ``sys.call_tracing``
(a function nothing else here calls), so callgrind's ``--toggle-collect`` counts exactly
the loop, and with the garbage collector paused during it (a full collection in or out
of the window moves the count by 5-10 %): the total divided by ``--requests`` is the
cost of one read, the same to within 0.1 % from run to run. The ids are drawn from a
seed of their own per process (``--seed``): two loops at once must not read the same
books, or one would find the other's responses in the shared cache.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import random
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.dataset import depth_boundary
from bench.settings import OUT, Settings

WARM_UP = 200


def _app(which: str, settings: Settings) -> Callable[..., Any]:
    if which == "baseline":
        os.environ["DATABASE_URL"] = settings.database_url
        from bench.baseline import app as baseline

        return baseline
    import redis

    from bench import inprocess

    app = inprocess.app(settings)
    redis.Redis.from_url(settings.redis_url).flushdb()  # the benchmark's own DB: a cold cache
    return app


def _paths(which: str, pages: bool, count: int, seed: int, settings: Settings) -> list[str]:
    """``count`` request paths, distinct for the API (every one a cache miss)."""
    rng = random.Random(seed)
    if not pages:
        return [f"/v1/books/{i}" for i in rng.sample(range(1, settings.books + 1), count)]
    if which == "baseline":
        return [f"/v1/books?after={depth_boundary(0)}"] * count
    cursors = (OUT / "requests" / "cursor_0.txt").read_text().split()
    return rng.sample(cursors, count)


def _environ(path: str) -> dict[str, Any]:
    path, _, query = path.partition("?")
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="?", choices=("api", "baseline"), default="api")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--pages", action="store_true", help="20-book list pages instead")
    parser.add_argument("--profile", action="store_true", help="cProfile the timed requests")
    parser.add_argument("--sort", default="tottime", help="profile order (cumulative, ...)")
    parser.add_argument("--top", type=int, default=25, help="functions the profile lists")
    parser.add_argument("--seed", type=int, default=os.getpid(), help="ids drawn (default: pid)")
    args = parser.parse_args()
    settings = Settings()
    app = _app(args.which, settings)
    statuses: dict[str, int] = {}

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> None:
        statuses[status] = statuses.get(status, 0) + 1

    def read(path: str) -> None:
        body = app(_environ(path), start_response)
        for _ in body:
            pass
        getattr(body, "close", lambda: None)()

    paths = _paths(args.which, args.pages, WARM_UP + args.requests, args.seed, settings)
    for path in paths[:WARM_UP]:
        read(path)

    def loop() -> None:
        for path in paths[WARM_UP:]:
            read(path)

    profile = cProfile.Profile() if args.profile else None
    gc.collect()
    gc.disable()
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    if profile:
        profile.enable()
    sys.call_tracing(loop, ())  # callgrind --toggle-collect=sys_call_tracing: only this
    if profile:
        profile.disable()
    elapsed, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    gc.enable()
    n = args.requests
    what = "list pages" if args.pages else "reads"
    print(
        f"{args.which}: {n} {what}, statuses {statuses}; per request: "
        f"{elapsed / n * 1e6:.0f} us wall, "
        f"{(after.ru_utime - before.ru_utime) / n * 1e6:.0f} us user CPU, "
        f"{(after.ru_stime - before.ru_stime) / n * 1e6:.0f} us system CPU"
    )
    if profile:
        stats = pstats.Stats(profile)
        print(f"{stats.total_calls / n:.0f} Python calls per request")  # type: ignore[attr-defined]
        stats.sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
