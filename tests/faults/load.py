"""Steady background traffic for the fault tests, with every outcome timestamped."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

# One request: returns a label (what was asked) and the response.
Request = Callable[[int], tuple[str, requests.Response]]


@dataclass(frozen=True)
class Outcome:
    at: float
    label: str
    status: int | None  # None: no HTTP answer (connection refused or reset)
    code: str | None = None  # the error envelope's code
    error: str | None = None
    retry_after: str | None = None  # the Retry-After header, if any

    @property
    def exception(self) -> str | None:
        """The name of the exception that ended the request without an answer, if one did."""
        return self.error.split(":", 1)[0] if self.error else None


class Load:
    """``threads`` loops sending ``request`` until stopped; a short pause between requests
    keeps the machine (2 cores, shared) responsive enough to measure what matters."""

    def __init__(self, request: Request, threads: int = 4, pause: float = 0.01) -> None:
        self.request = request
        self.pause = pause
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self, n: int) -> None:
        count = 0
        while not self._stop.is_set():
            count += 1
            started = time.monotonic()
            try:
                label, response = self.request(n * 1_000_000 + count)
            except Exception as exc:  # noqa: BLE001 - no answer, or one the request could not read
                outcome = Outcome(started, "?", None, error=f"{type(exc).__name__}: {exc}")
            else:
                outcome = Outcome(
                    started,
                    label,
                    response.status_code,
                    _code(response),
                    retry_after=response.headers.get("Retry-After"),
                )
            with self._lock:
                self.outcomes.append(outcome)
            self._stop.wait(self.pause)

    def between(self, start: float, end: float = float("inf")) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if start <= o.at < end]


def _code(response: requests.Response) -> str | None:
    if response.status_code < 400 or not response.content:
        return None
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return "NOT_AN_ENVELOPE"


def wait_until(predicate: Callable[[], bool], timeout: float = 15, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(step)
