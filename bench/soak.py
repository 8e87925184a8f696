"""Soak: SOAK_SECONDS (300) of mixed traffic against a multi-worker gunicorn.

Catalog reads (items, lists, search), logins, orders with Idempotency-Key (one in ten
sent twice) and payments, from SOAK_CLIENTS (8) keep-alive clients, against SOAK_WORKERS
(4) gunicorn workers with the production config, PostgreSQL (its own database,
SOAK_DATABASE_URL, rebuilt on every run) and a private redis-server. Reports errors
other than 429 (the target is zero), each worker's RSS sampled every 5 s (no growth
trend wanted) and p50/p99 per 30 s window; writes bench/SOAK.md. Exit status 1 on errors.
Run it with ``make soak``; it is not part of ``make test``.
"""

from __future__ import annotations

import os
import platform
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import dataset  # noqa: E402
from bookstore.config import RATE_LIMITS  # noqa: E402
from bookstore.services.seed import ADJECTIVES, NOUNS  # noqa: E402

SECONDS = int(os.environ.get("SOAK_SECONDS", "300"))
WORKERS = int(os.environ.get("SOAK_WORKERS", "4"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "8"))
BOOKS = int(os.environ.get("SOAK_BOOKS", "5000"))
DATABASE_URL = os.environ.get(
    "SOAK_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bookstore_soak"
)
PASSWORD = "soak test passphrase"  # noqa: S105 - the soak's own throwaway accounts
CUSTOMERS = 40
# (kind, weight): what a shop's traffic looks like, reads first.
MIX = [
    ("book", 35), ("book_list", 12), ("search", 8), ("author_books", 5), ("magazines", 5),
    ("me", 6), ("my_orders", 4), ("order", 12), ("pay", 8), ("login", 2), ("root", 3),
]  # fmt: skip
EXPECTED = {"order": {201}, "login": {200}}
WINDOW = 30
WARM_UP = 60  # seconds of pools, caches and imports settling before RSS is judged


@dataclass(frozen=True)
class Timing:
    at: float  # seconds since the start
    kind: str
    status: int  # 0: no HTTP answer
    seconds: float


@dataclass(frozen=True)
class Sample:
    at: float
    rss: dict[int, float | None]  # pid -> MB (the arbiter first)
    load: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reset_database(url: str) -> None:
    target = make_url(url)
    # The schema is dropped below: never on a database that is not obviously the soak's.
    assert "soak" in (target.database or ""), "SOAK_DATABASE_URL must name a *soak* database"
    dataset.ensure_database(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def prepare(env: dict[str, str]) -> None:
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    for args in (["db", "upgrade"], ["seed"], ["seed", "--books", str(BOOKS)]):
        subprocess.run([*flask, *args], cwd=ROOT, env=env, check=True, capture_output=True)
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    engine = create_engine(env["DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(text("UPDATE books SET stock = 10000000"))  # orders never run out
        conn.execute(
            text(
                "INSERT INTO users (email, password_hash, role, active, created_at, updated_at)"
                " VALUES (:e, :h, 'customer', true, now(), now())"
            ),
            [{"e": f"soak{n}@example.com", "h": hashed} for n in range(CUSTOMERS)],
        )
    engine.dispose()


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/health/ready", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not become ready")


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
    return sorted(int(pid) for pid in out.stdout.split())


class Client(threading.Thread):
    def __init__(
        self, n: int, url: str, token: str, books: int, began: float, stop: threading.Event
    ):
        super().__init__(daemon=True)
        self.rng = random.Random(n)
        self.url, self.books, self.began, self.stop_event = url, books, began, stop
        self.email = f"soak{n % CUSTOMERS}@example.com"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.timings: list[Timing] = []
        self.pending: list[int] = []  # this client's orders waiting to be paid
        self.last_order: tuple[str, dict] | None = None
        kinds, weights = zip(*MIX, strict=True)
        self.kinds, self.weights = list(kinds), list(weights)

    def run(self) -> None:
        while not self.stop_event.is_set():
            kind = self.rng.choices(self.kinds, self.weights)[0]
            if kind == "pay" and not self.pending:
                kind = "order"
            started = time.monotonic()
            try:
                response = self.send(kind)
                status, replayed = response.status_code, "Idempotent-Replayed" in response.headers
            except requests.RequestException:
                status, replayed = 0, False
            elapsed = time.monotonic() - started
            if kind == "order" and status == 201 and not replayed:
                self.pending.append(response.json()["data"]["id"])
            self.timings.append(Timing(started - self.began, kind, status, elapsed))

    def send(self, kind: str) -> requests.Response:
        get, rng, url = self.session.get, self.rng, self.url
        if kind == "book":
            return get(f"{url}/v1/books/{rng.randint(1, self.books)}", timeout=30)
        if kind == "book_list":
            return get(f"{url}/v1/books?page={rng.randint(1, 50)}&sort=-price", timeout=30)
        if kind == "search":
            return get(f"{url}/v1/books?q={rng.choice(ADJECTIVES + NOUNS)}", timeout=30)
        if kind == "author_books":
            return get(f"{url}/v1/authors/{rng.randint(1, 50)}/books", timeout=30)
        if kind == "magazines":
            return get(f"{url}/v1/magazines?per_page=10", timeout=30)
        if kind == "me":
            return get(f"{url}/v1/users/me", timeout=30)
        if kind == "my_orders":
            return get(f"{url}/v1/orders?per_page=5", timeout=30)
        if kind == "root":
            return get(f"{url}/v1", timeout=30)
        if kind == "login":
            body = {"email": self.email, "password": PASSWORD}
            return requests.post(f"{url}/v1/auth/login", json=body, timeout=30)
        if kind == "pay":
            order_id = self.pending.pop(0)
            return self.session.post(f"{url}/v1/orders/{order_id}/pay", timeout=30)
        # order: one in ten resends the previous one, which must replay, not order again
        if self.last_order is None or rng.random() >= 0.1:
            line = {"book_id": rng.randint(1, self.books), "quantity": rng.randint(1, 3)}
            address = {"name": "Soak", "line1": "1 Main St", "city": "Oslo",
                       "postal_code": "0150", "country": "NO"}  # fmt: skip
            self.last_order = (uuid.uuid4().hex, {"items": [line], "shipping_address": address})
        key, body = self.last_order
        return self.session.post(
            f"{url}/v1/orders", json=body, headers={"Idempotency-Key": key}, timeout=30
        )


def main() -> int:
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    redis_port, port = free_port(), free_port()
    env = {
        **os.environ,
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "BCRYPT_ROUNDS": "10",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "JWT_ACCESS_TTL": str(max(900, SECONDS * 2)),
        "WEB_CONCURRENCY": str(WORKERS),
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "ACCESS_LOG": "",
        **{name: "1000000/minute" for name in RATE_LIMITS},
    }
    reset_database(DATABASE_URL)
    redis = start(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"], env, out_dir / "soak-redis.log",
    )  # fmt: skip
    server = None
    try:
        prepare(env)
        server = start(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            env,
            out_dir / "soak-gunicorn.log",
        )
        url = f"http://127.0.0.1:{port}"
        wait_ready(url)
        tokens = [
            requests.post(
                f"{url}/v1/auth/login",
                json={"email": f"soak{n % CUSTOMERS}@example.com", "password": PASSWORD},
                timeout=30,
            ).json()["data"]["access_token"]
            for n in range(CLIENTS)
        ]
        books = BOOKS + 300
        stop = threading.Event()
        samples: list[Sample] = []
        began = time.monotonic()
        clients = [Client(n, url, tokens[n], books, began, stop) for n in range(CLIENTS)]
        for client in clients:
            client.start()
        print(f"soak: {SECONDS}s, {CLIENTS} clients, {WORKERS} workers on {url}", flush=True)
        while (now := time.monotonic()) - began < SECONDS:
            pids = worker_pids(server.pid)
            rss = {pid: rss_mb(pid) for pid in [server.pid, *pids]}
            samples.append(Sample(now - began, rss, os.getloadavg()[0]))
            time.sleep(min(5.0, max(0.0, SECONDS - (time.monotonic() - began))))
        stop.set()
        for client in clients:
            client.join(timeout=60)
        pids = worker_pids(server.pid)
        rss = {pid: rss_mb(pid) for pid in [server.pid, *pids]}
        samples.append(Sample(time.monotonic() - began, rss, os.getloadavg()[0]))
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        redis.terminate()
        redis.wait(timeout=10)
    timings = sorted((t for client in clients for t in client.timings), key=lambda t: t.at)
    settings = {"seconds": SECONDS, "clients": CLIENTS, "workers": WORKERS, "books": books}
    errors = write_report(ROOT / "bench" / "SOAK.md", timings, samples, settings)
    return 1 if errors else 0


# -- the report ------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p * len(ordered)) - 1))] * 1000


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares MB per minute."""
    n = len(points)
    mean_t, mean_v = sum(t for t, _ in points) / n, sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in points) / var if var else 0.0


def failed(t: Timing) -> bool:
    return t.status != 429 and t.status not in EXPECTED.get(t.kind, {200})


def stats(mine: list[Timing]) -> tuple[int, int, int, float, float, float]:
    """count, errors, 429s, p50, p99 and max (ms)."""
    secs = [t.seconds for t in mine]
    refused = sum(t.status == 429 for t in mine)
    return (
        len(mine),
        sum(map(failed, mine)),
        refused,
        pct(secs, 0.5),
        pct(secs, 0.99),
        max(secs) * 1000,
    )


def write_report(path: Path, timings: list[Timing], samples: list[Sample], cfg: dict) -> int:
    errors = [t for t in timings if failed(t)]
    limited = sum(t.status == 429 for t in timings)
    loads = [s.load for s in samples]
    lines = [
        "# Soak run",
        "",
        f"`make soak` ({cfg['seconds']} s): {cfg['clients']} keep-alive clients, "
        f"{cfg['workers']} gunicorn workers (gthread, 4 threads), PostgreSQL and a private "
        f"redis-server, {cfg['books']} books, production config; {time.strftime('%Y-%m-%d')}.",
        f"Machine: {os.cpu_count()} cores, {platform.platform()}. Shared with other engineers"
        f" during the run: 1-minute load average {min(loads):.1f} to {max(loads):.1f}"
        f" (mean {sum(loads) / len(loads):.1f}); client and server share the cores.",
        "",
        f"**{len(timings)} requests ({len(timings) / cfg['seconds']:.0f}/s), "
        f"{len(errors)} errors other than 429, {limited} × 429.**",
        "",
        "| kind | requests | errors | 429 | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, _ in MIX:
        if mine := [t for t in timings if t.kind == kind]:
            count, bad, refused, p50, p99, _ = stats(mine)
            lines.append(f"| {kind} | {count} | {bad} | {refused} | {p50:.1f} | {p99:.1f} |")
    lines += ["", f"## Latency over time ({WINDOW} s windows)", "",
              "| window | requests | req/s | errors | p50 ms | p99 ms | max ms |",
              "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for start in range(0, cfg["seconds"], WINDOW):
        if mine := [t for t in timings if start <= t.at < start + WINDOW]:
            count, bad, _, p50, p99, top = stats(mine)
            end = min(start + WINDOW, cfg["seconds"])
            lines.append(
                f"| {start}-{end} s | {count} | {count / (end - start):.0f} | {bad} | "
                f"{p50:.1f} | {p99:.1f} | {top:.0f} |"
            )
    pids = list(samples[0].rss)
    settled = [s for s in samples if s.at >= WARM_UP] or samples
    lines += ["", "## Memory (RSS, MB)", "",
              f"After a {WARM_UP} s warm-up; trend is the least-squares slope over the rest.", "",
              "| process | at start | after warm-up | at end | max | trend MB/min |",
              "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for n, pid in enumerate(pids):
        series = [(s.at, s.rss[pid]) for s in settled if s.rss.get(pid) is not None]
        every = [s.rss[pid] for s in samples if s.rss.get(pid) is not None]
        name = "arbiter" if n == 0 else f"worker {n} (pid {pid})"
        if series:
            lines.append(
                f"| {name} | {every[0]:.1f} | {series[0][1]:.1f} | {series[-1][1]:.1f} | "
                f"{max(every):.1f} | {slope(series):+.2f} |"
            )
    lines += ["", "Sampled every 30 s (workers, MB):", "", "| t | " + " | ".join(
        f"w{n}" for n in range(1, len(pids))) + " |", "|---" * len(pids) + "|"]  # fmt: skip
    step = max(1, round(WINDOW / 5))
    for s in [*samples[:-1:step], samples[-1]]:
        cells = [f"{s.rss[pid]:.1f}" if s.rss.get(pid) else "-" for pid in pids[1:]]
        lines.append(f"| {s.at:.0f} s | " + " | ".join(cells) + " |")
    if errors:
        lines += ["", "Errors:", ""] + [f"- {t.at:.1f} s {t.kind} {t.status}" for t in errors[:50]]
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return len(errors)


if __name__ == "__main__":
    sys.exit(main())
