"""Profile one gunicorn worker of the API under wrk load with py-spy.

    python -m bench.profile book_miss [--seconds 20] [--worker-class gthread]

Needs a database prepared by ``make bench`` (or ``python -m bench.run``). Writes
bench/out/profile-<scenario>.txt (collapsed stacks, for flamegraph.pl or speedscope), prints
the functions with the most samples, inclusive and exclusive, and a per-package split.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import threading
from pathlib import Path

from bench import dataset, loadgen, servers
from bench.run import Runner
from bench.settings import OUT, Settings

PACKAGES = (
    "bookstore",
    "sqlalchemy",
    "psycopg2",
    "redis",
    "limits",
    "marshmallow",
    "werkzeug",
    "flask",
    "gunicorn",
    "jwt",
    "logging",
    "orjson",
)


def summarise(collapsed: Path, top: int = 25) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    exclusive: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        exclusive[frames[-1]] += n
        leaf = frames[-1]
        path = leaf.rpartition("(")[2]
        packages[next((name for name in PACKAGES if path.startswith(name + "/")), "other")] += n
    out = [f"{total} samples"]
    out.append("\nby package (exclusive):")
    out += [f"  {100 * n / total:5.1f} %  {name}" for name, n in packages.most_common()]
    out.append("\ninclusive:")
    out += [f"  {100 * n / total:5.1f} %  {f}" for f, n in inclusive.most_common(top)]
    out.append("\nexclusive:")
    out += [f"  {100 * n / total:5.1f} %  {f}" for f, n in exclusive.most_common(top)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument(
        "--wall", action="store_true", help="sample waiting threads too (default: GIL holders)"
    )
    args = parser.parse_args()
    settings = Settings()
    scenario = loadgen.by_name([args.scenario])[0]
    files = dataset.request_lists(settings)
    runner = Runner(settings, files)
    runner.servers = {
        "app": servers.start(settings, "app", "wsgi:app", settings.app_port, args.worker_class)
    }
    try:
        base = OUT / f"profile-{scenario.name}"
        spy = str(Path(sys.executable).with_name("py-spy"))
        load = threading.Thread(target=runner.once, args=(scenario, args.seconds + 4))
        load.start()
        # Every worker at once: the load spreads unevenly over them.
        spies = []
        for n, pid in enumerate(runner.servers["app"].worker_pids()):
            record = [spy, "record", "-p", str(pid), "-d", str(args.seconds), "-r", str(args.rate)]
            if not args.wall:
                record.append("--gil")  # CPU spent in Python, not time waiting on I/O
            out = f"{base}-{n}.txt"
            spies.append(
                subprocess.Popen([*record, "-f", "raw", "-o", out, "--nonblocking"])  # noqa: S603
            )
        for process in spies:
            process.wait()
        load.join()
        merged = Path(f"{base}.txt")
        parts = sorted(OUT.glob(f"profile-{scenario.name}-*.txt"))
        merged.write_text("".join(part.read_text() for part in parts))
        for part in parts:
            part.unlink()
        print(summarise(merged))
        print(f"\ncollapsed stacks: {merged} (flamegraph.pl or speedscope.app read them)")
    finally:
        runner.stop()


if __name__ == "__main__":
    main()
