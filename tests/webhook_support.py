"""A real HTTP receiver for webhook tests, and helpers to subscribe and run the worker.

The receiver runs ``http.server`` in a thread on a free 127.0.0.1 port. It verifies every
signature with the secret the API showed once, records each request, and answers from a
script the test sets: a status, a status with headers, or a delay before answering.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import ROOT, TEST_ENV

# Small, fast settings for tests: the receiver runs on loopback.
FAST = {
    "WEBHOOK_ALLOW_PRIVATE": True,
    "WEBHOOK_CONNECT_TIMEOUT": 0.5,
    "WEBHOOK_READ_TIMEOUT": 0.5,
    "WEBHOOK_LEASE_SECONDS": 2.0,
    "WEBHOOK_BACKOFF_BASE": 0.2,
    "WEBHOOK_BACKOFF_CAP": 60.0,
}


@dataclass
class Reply:
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok":true}'


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.headers["X-Bookstore-Event-Id"]


def verify(secret: str | None, header: str, body: bytes, tolerance: int = 300) -> bool:
    """What a receiver does: recompute the HMAC and compare in constant time."""
    if not secret:
        return False
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    timestamp = parts.get("t", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


class Receiver:
    def __init__(self) -> None:
        self.secret: str | None = None
        self.received: list[Received] = []
        self.script: deque[Reply] = deque()
        self.default = Reply()
        self.released = threading.Event()
        self.arrived = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.released.set()  # wake handlers still sleeping
        self.server.shutdown()
        self.server.server_close()

    def reply(self, *replies: Reply | int) -> None:
        for item in replies:
            self.script.append(item if isinstance(item, Reply) else Reply(item))

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        with self.arrived:
            ok = self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
        assert ok, f"expected {count} requests, got {len(self.received)}"
        return list(self.received)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = dict(self.headers.items())
                ok = verify(receiver.secret, headers.get("X-Bookstore-Signature", ""), body)
                with receiver.arrived:
                    reply = receiver.script.popleft() if receiver.script else receiver.default
                    receiver.received.append(Received(self.path, headers, body, ok))
                    receiver.arrived.notify_all()
                if reply.delay:
                    receiver.released.wait(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the worker gave up (timeout) or was killed

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def fast_webhooks(app, monkeypatch) -> None:
    for key, value in FAST.items():
        monkeypatch.setitem(app.config, key, value)


def subscribe(client, headers, url: str, events: list[str] | None = None, **extra: Any):
    """Create a subscription through the API; returns (id, secret)."""
    body = {"url": url, "event_types": events or ["book.created"], **extra}
    resp = client.post("/v1/webhooks", json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    data = resp.get_json()["data"]
    return data["id"], data["secret"]


def deliver_due(app) -> dict[str, int]:
    """Run the worker in-process, in its own app context, over what is due now."""
    from bookstore.services.webhooks import worker

    with app.app_context():
        return dict(worker.run(threading.Event(), once=True))


def worker_env(**overrides: str) -> dict[str, str]:
    env = {**os.environ, **TEST_ENV, "FLASK_APP": "wsgi.py"}
    env.update({key: str(value) for key, value in FAST.items()})
    env["WEBHOOK_ALLOW_PRIVATE"] = "true"
    env.update(overrides)
    return env


def start_worker(*args: str, **env: str) -> subprocess.Popen[str]:
    """``flask webhooks work`` as a real separate process."""
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "webhooks", "work", *args],
        cwd=ROOT,
        env=worker_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
