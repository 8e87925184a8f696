"""The mixed workload's load generator, run as its own process for a bounded time.

    python -m bench.mixgen CONFIG.json   # prints one line: MIX_JSON {...}

Threads, one keep-alive ``http.client`` connection each, draw requests from one mix:
catalog reads by id with a Zipf-like popularity (about 1 % of the books take about half
of the reads), list and filter pages, full-text searches, orders (a new Idempotency-Key
each, some sent a second time with the same key) and logins. Per request class it
reports req/s, p50/p95/p99, errors by status and the ``X-Cache`` hits and misses.
"""

from __future__ import annotations

import http.client
import json
import math
import random
import ssl
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# Share of requests per class in the full mix; an order's retry comes on top of its order.
MIX = {"book": 0.815, "list": 0.10, "search": 0.05, "order": 0.03, "login": 0.005}
ORDER_RETRY = 0.10  # the share of orders sent again with the same Idempotency-Key
CLASSES = (*MIX, "order_retry")
ORDER_ADDRESS = {
    "name": "Bench Customer",
    "line1": "1 Load Street",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


def mix_weights(orders: bool) -> dict[str, float]:
    """The class shares, renormalised without orders for the read-only mix."""
    weights = {name: share for name, share in MIX.items() if orders or name != "order"}
    total = sum(weights.values())
    return {name: share / total for name, share in weights.items()}


def _head_share(n: int, s: float, head: float) -> float:
    """The share of a Zipf(s) distribution over ranks 1..n taken by the first ``head``."""
    if abs(s - 1.0) < 1e-9:
        return math.log(head + 1) / math.log(n + 1)
    return ((head + 1) ** (1 - s) - 1) / ((n + 1) ** (1 - s) - 1)


class ZipfSampler:
    """Ranks 1..n drawn with P(k) ~ k**-s, s chosen so the top ``hot_fraction`` of the
    ranks draw ``hot_share`` of the samples; ranks map to ids 1..n by a fixed permutation
    so the popular items are spread over the catalog, not its first rows.

    Sampling inverts the continuous approximation of the CDF: one draw, no tables.
    """

    def __init__(self, n: int, hot_share: float = 0.5, hot_fraction: float = 0.01) -> None:
        if n < 2:
            raise ValueError("a Zipf sampler needs at least two items")
        self.n = n
        self.head = max(1, round(n * hot_fraction))
        low, high = 0.0, 3.0  # the head's share grows with s
        for _ in range(60):
            mid = (low + high) / 2
            if _head_share(n, mid, self.head) < hot_share:
                low = mid
            else:
                high = mid
        self.s = (low + high) / 2
        self._one = abs(self.s - 1.0) < 1e-9
        self._top = math.log(n + 1) if self._one else (n + 1) ** (1 - self.s) - 1
        self._step = self._coprime_step(n)

    @staticmethod
    def _coprime_step(n: int) -> int:
        step = int(n * 0.6180339887) | 1
        while math.gcd(step, n) != 1:
            step += 2
        return step

    def rank(self, rng: random.Random) -> int:
        u = rng.random()
        value = math.exp(u * self._top) if self._one else (1 + u * self._top) ** (1 / (1 - self.s))
        return min(self.n, max(1, int(value)))

    def item(self, rank: int) -> int:
        """The id (1..n) that holds ``rank``: a bijection of 1..n."""
        return (rank - 1) * self._step % self.n + 1

    def sample(self, rng: random.Random) -> int:
        return self.item(self.rank(rng))


@dataclass
class Request:
    kind: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Plan:
    """The next request of one connection, drawn from the mix."""

    def __init__(self, config: dict[str, Any], rng: random.Random, connection: int = 0) -> None:
        """``connection``: which connection this is; it orders as that customer of
        ``config["tokens"]`` (one browser, one customer)."""
        self.rng = rng
        tokens = config.get("tokens") or []
        self.orders = bool(config["orders"]) and bool(tokens)
        weights = mix_weights(self.orders)
        self.kinds, self.weights = list(weights), list(weights.values())
        self.books = ZipfSampler(config["books"])
        self.lists = config["list_paths"]
        self.list_rank = ZipfSampler(len(self.lists), hot_fraction=0.1)
        self.searches = config["search_paths"]
        self.order_books = config["order_books"]
        token = tokens[connection % len(tokens)] if tokens else None
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.login_body = json.dumps(
            {"email": config["email"], "password": config["password"]}
        ).encode()
        self.pending: Request | None = None

    def next(self) -> Request:
        if self.pending is not None:
            retry, self.pending = self.pending, None
            return retry
        kind = self.rng.choices(self.kinds, self.weights)[0]
        if kind == "book":
            return Request(kind, "GET", f"/v1/books/{self.books.sample(self.rng)}")
        if kind == "list":
            return Request(kind, "GET", self.lists[self.list_rank.sample(self.rng) - 1])
        if kind == "search":
            return Request(kind, "GET", self.rng.choice(self.searches))
        json_type = {"Content-Type": "application/json"}
        if kind == "login":
            return Request(kind, "POST", "/v1/auth/login", self.login_body, json_type)
        body = {
            "items": [{"book_id": self.rng.randint(1, self.order_books), "quantity": 1}],
            "shipping_address": ORDER_ADDRESS,
        }
        headers = {**json_type, **self.auth, "Idempotency-Key": f"mix-{uuid.uuid4()}"}
        order = Request(kind, "POST", "/v1/orders", json.dumps(body).encode(), headers)
        if self.rng.random() < ORDER_RETRY:
            self.pending = Request("order_retry", order.method, order.path, order.body, headers)
        return order


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.hits = self.misses = self.socket_errors = 0


def _connect(url: str, context: ssl.SSLContext | None) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return http.client.HTTPSConnection(
            parts.hostname, parts.port or 443, timeout=10, context=context
        )
    return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=10)


def tls_context(url: str, cafile: str | None) -> ssl.SSLContext | None:
    """Trust the given CA file, or else exactly the certificate the server presents."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        return None
    if cafile:
        return ssl.create_default_context(cafile=cafile)
    pem = ssl.get_server_certificate((parts.hostname, parts.port or 443))
    context = ssl.create_default_context(cadata=pem)
    context.check_hostname = False  # the pinned certificate is the identity checked
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def _drive(config: dict[str, Any], index: int, deadline: float, tallies: dict[str, Tally]):
    rng = random.Random(config["seed"] * 1000 + index)
    plan = Plan(config, rng, index)
    context = tls_context(config["url"], config.get("cafile"))
    conn = _connect(config["url"], context)
    while time.perf_counter() < deadline:
        request = plan.next()
        tally = tallies[request.kind]
        started = time.perf_counter()
        try:
            conn.request(request.method, request.path, request.body, request.headers)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            tally.socket_errors += 1
            conn.close()
            conn = _connect(config["url"], context)
            continue
        tally.latencies.append((time.perf_counter() - started) * 1000)
        tally.statuses[response.status] += 1
        cache = response.getheader("X-Cache")
        if cache == "HIT":
            tally.hits += 1
        elif cache == "MISS":
            tally.misses += 1
    conn.close()


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def summarise(tallies: list[Tally], seconds: float) -> dict[str, Any]:
    latencies = sorted(x for t in tallies for x in t.latencies)
    statuses: Counter[int] = Counter()
    for t in tallies:
        statuses.update(t.statuses)
    bad = {str(code): n for code, n in sorted(statuses.items()) if code >= 400}
    out: dict[str, Any] = {
        "requests": len(latencies),
        "rps": len(latencies) / seconds if seconds else 0.0,
        "mean": statistics.fmean(latencies) if latencies else 0.0,
        "errors": sum(bad.values()),
        "statuses": bad,
        "socket_errors": sum(t.socket_errors for t in tallies),
        "timeouts": 0,
        "cache_hits": sum(t.hits for t in tallies),
        "cache_misses": sum(t.misses for t in tallies),
    }
    for q in (50, 75, 90, 95, 99):
        out[f"p{q}"] = _percentile(latencies, q)
    return out


def run(config: dict[str, Any]) -> dict[str, Any]:
    per_thread = [{kind: Tally() for kind in CLASSES} for _ in range(config["connections"])]
    started = time.perf_counter()
    deadline = started + config["seconds"]
    threads = [
        threading.Thread(target=_drive, args=(config, n, deadline, tallies), daemon=True)
        for n, tallies in enumerate(per_thread)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(config["seconds"] + 30)
    seconds = time.perf_counter() - started
    result = summarise([t for tallies in per_thread for t in tallies.values()], seconds)
    result["seconds"] = seconds
    result["classes"] = {
        kind: summarise([tallies[kind] for tallies in per_thread], seconds) for kind in CLASSES
    }
    return result


def main() -> None:
    with open(sys.argv[1]) as handle:
        config = json.load(handle)
    print("MIX_JSON " + json.dumps(run(config)), flush=True)


if __name__ == "__main__":
    main()
