"""The clients in clients/ (Postman collection, web frontend) tested against a real server.

They need node and the npm packages (`make clients-deps`), and Chromium for the browser.
Under CI (``CI`` set) a missing tool fails the test: CI must never skip them silently.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import ROOT

CLIENTS = ROOT / "clients"
NODE_MODULES = CLIENTS / "node_modules"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(found: str | Path | None, what: str) -> str:
    """The tool's path; else fail under CI, skip elsewhere, saying how to get it."""
    if found and Path(found).exists():
        return str(found)
    reason = f"{what} is missing"
    if in_ci():
        pytest.fail(f"{reason}: CI must run this test (see .ci/run)")
    pytest.skip(f"{reason}; install it to run this test")


def node() -> str:
    return require(shutil.which("node"), "node (Node.js 20+)")


def node_package(name: str) -> Path:
    node()
    package = NODE_MODULES / name
    require(package / "package.json", f"the npm package {name} (run `make clients-deps`)")
    return package


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class StaticSite:
    """clients/web served by a thread, like `python -m http.server --bind 127.0.0.1`."""

    def __init__(self) -> None:
        handler = partial(_QuietHandler, directory=str(CLIENTS / "web"))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def static_site() -> Iterator[Callable[[], StaticSite]]:
    sites: list[StaticSite] = []

    def start() -> StaticSite:
        sites.append(StaticSite())
        return sites[-1]

    yield start
    for site in sites:
        site.stop()
