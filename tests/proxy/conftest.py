"""A real nginx in front of two real gunicorn instances, as `make cluster` runs them.

nginx's configuration is rendered from deploy/nginx/nginx.conf.template by deploy.nginx
(the same code `make cluster` uses), on spare ports, with a self-signed certificate.
Each instance is its own gunicorn (its own process group, so a test can kill one whole
instance) with TRUSTED_PROXIES=1. Under CI=true a missing nginx fails these tests.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from deploy.processes import Instance, Nginx, find_nginx
from tests.conftest import ROOT, TEST_ENV, free_port
from tests.faults.load import wait_until

INSTANCE_ENV = {
    "TRUSTED_PROXIES": "1",
    "WEB_CONCURRENCY": "2",
    # Few connections each: the PostgreSQL server is shared with the rest of the suite.
    "GUNICORN_THREADS": "2",
    "DB_MAX_OVERFLOW": "0",
    "LOG_LEVEL": "INFO",
    # The load tests come from one address; the rate-limit test uses its own addresses.
    "RATELIMIT_DEFAULT": "100000/minute",
    "RATELIMIT_WRITE": "100000/minute",
    "RATELIMIT_LOGIN_IP": "10/minute",
    # The load tests place many unpaid orders for one customer.
    "ORDER_MAX_PENDING": "100000",
}


def nginx_binary() -> str:
    found = find_nginx()
    if found is None:
        message = "nginx is not installed (apt-get install nginx-light)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


class ClusterInstance(Instance):
    """An instance of deploy.processes on a spare port, with the test settings."""

    def __init__(self, name: str, port: int, workdir: Path) -> None:
        env = {**os.environ, **TEST_ENV, **INSTANCE_ENV}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        super().__init__(port, env, workdir / f"{name}.log", workdir / f"{name}.pid")
        self.name = name

    def log_lines(self) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


class Proxy(Nginx):
    """deploy.processes' nginx on spare ports, in a temporary folder."""

    def __init__(self, binary: str, workdir: Path, upstreams: list[str]) -> None:
        super().__init__(binary, workdir / "nginx", upstreams, "", "")
        self.http_port = self.https_port = 0

    def start(self, timeout: float = 20) -> subprocess.Popen[bytes]:
        for _ in range(3):  # a spare port can be taken meanwhile: try others
            self.http_port, self.https_port = free_port(), free_port()
            self.http_listen = f"127.0.0.1:{self.http_port}"
            self.https_listen = f"127.0.0.1:{self.https_port}"
            try:
                return super().start(timeout)
            except SystemExit as exc:
                failure = exc
        raise RuntimeError(f"nginx did not start: {failure}")

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.access_log.read_text().splitlines()]

    def session(self) -> requests.Session:
        """Pass ``verify=str(proxy.cert)`` on each call: REQUESTS_CA_BUNDLE would win
        over a session's own ``verify``."""
        return requests.Session()


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Cluster:
    def __init__(self, proxy: Proxy, instances: list[Instance]) -> None:
        self.proxy = proxy
        self.instances = instances

    def app_log_line(self, request_id: str) -> dict[str, Any]:
        """The one access-log line of the instance that served ``request_id``."""
        return self._one(request_id, lambda: [
            line
            for instance in self.instances
            for line in instance.log_lines()
            if line.get("message") == "request"
        ])  # fmt: skip

    def proxy_log_line(self, request_id: str) -> dict[str, Any]:
        return self._one(request_id, self.proxy.log_lines)

    @staticmethod
    def _one(request_id: str, read: Callable[[], list[dict[str, Any]]]) -> dict[str, Any]:
        # Both servers log a request once its response is sent: it may come a moment later.
        found: list[dict[str, Any]] = []

        def logged() -> bool:
            found[:] = [line for line in read() if line.get("request_id") == request_id]
            return bool(found)

        wait_until(logged, timeout=10)
        assert len(found) == 1, found
        return found[0]

    def ensure_running(self) -> None:
        """Both instances up, and nginx's passive health state reset (a reload)."""
        restarted = [i for i in self.instances if not i.running]
        for instance in restarted:
            instance.start()
        if restarted:
            self.proxy.reload()

    def call(
        self,
        method: str,
        path: str,
        *,
        source: str = "127.0.0.1",
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> Reply:
        """One request through nginx over HTTPS from ``source`` (any 127.x address)."""
        conn = http.client.HTTPSConnection(
            "127.0.0.1",
            self.proxy.https_port,
            context=self.proxy.tls_context(),
            source_address=(source, 0),
            timeout=30,
        )
        payload = None if body is None else json.dumps(body).encode()
        sent = {**({"Content-Type": "application/json"} if payload else {}), **(headers or {})}
        try:
            conn.request(method, path, body=payload, headers=sent)
            response = conn.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            conn.close()


@pytest.fixture(scope="session")
def proxy_cluster(app) -> Iterator[Cluster]:
    binary = nginx_binary()
    # Not under pytest's shared temporary root: other runs there prune old folders.
    workdir = ROOT / "instance" / "proxy-tests" / str(os.getpid())
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    instances = [ClusterInstance(name, free_port(), workdir) for name in ("a", "b")]
    proxy = Proxy(binary, workdir, [i.address for i in instances])
    try:
        for instance in instances:
            instance.start()
        proxy.start()
        yield Cluster(proxy, instances)
    finally:
        proxy.stop()
        for instance in instances:
            instance.kill()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def cluster(proxy_cluster: Cluster) -> Cluster:
    """The cluster with both instances up (a test before may have killed one)."""
    proxy_cluster.ensure_running()
    return proxy_cluster


def slow_connection(port: int, context: ssl.SSLContext | None) -> socket.socket:
    """A connection that has sent only the start of a request's headers."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock = context.wrap_socket(raw, server_hostname="127.0.0.1") if context else raw
    sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    return sock
