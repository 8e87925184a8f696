"""A real nginx in front of two real gunicorn instances, as `make cluster` runs them.

nginx's configuration is rendered from deploy/nginx/nginx.conf.template by deploy.nginx
(the same code `make cluster` uses), on spare ports, with a self-signed certificate.
Each instance is its own gunicorn (its own process group, so a test can kill one whole
instance) with TRUSTED_PROXIES=1. Under CI=true a missing nginx fails these tests.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from deploy import nginx as nginx_conf
from tests.conftest import ROOT, TEST_ENV, free_port
from tests.faults.load import wait_until

INSTANCE_ENV = {
    "TRUSTED_PROXIES": "1",
    "WEB_CONCURRENCY": "2",
    "GUNICORN_THREADS": "4",
    "LOG_LEVEL": "INFO",
    # The load tests come from one address; the rate-limit test uses its own addresses.
    "RATELIMIT_DEFAULT": "100000/minute",
    "RATELIMIT_WRITE": "100000/minute",
    "RATELIMIT_LOGIN_IP": "10/minute",
}


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found is None:
        message = "nginx is not installed (apt-get install nginx-light)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


class Instance:
    """One gunicorn instance on a fixed port, in its own process group."""

    def __init__(self, name: str, port: int, env: dict[str, str]) -> None:
        self.name = name
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.url = f"http://{self.address}"
        self.log = ROOT / "instance" / f"proxy-{name}-{port}.log"
        self.env = {**os.environ, **TEST_ENV, **INSTANCE_ENV, **env, "PORT": str(port)}
        self.env["BIND"] = self.address
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> Instance:
        self.log.parent.mkdir(exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                if requests.get(self.url + "/health/live", timeout=1).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{self.name} did not become ready")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL to the arbiter and its workers at once: the instance crashes."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM: gunicorn's graceful stop; returns its exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def pids(self) -> set[int]:
        """The arbiter and its workers."""
        assert self.proc is not None
        out = subprocess.run(
            ["pgrep", "-g", str(self.proc.pid)], capture_output=True, text=True, check=False
        )
        return {int(pid) for pid in out.stdout.split()}

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines


class Proxy:
    """nginx with the rendered template, on spare ports, in the foreground."""

    def __init__(self, binary: str, workdir: Path, upstreams: list[str]) -> None:
        self.binary = binary
        self.workdir = workdir
        self.cert, self.key = nginx_conf.self_signed(workdir / "tls")
        self.upstreams = upstreams
        self.proc: subprocess.Popen[bytes] | None = None
        self.http_port = self.https_port = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def access_log(self) -> Path:
        return self.workdir / "logs" / "access.log"

    def start(self) -> Proxy:
        for _ in range(3):  # a spare port can be taken meanwhile: try others
            self.http_port, self.https_port = free_port(), free_port()
            values = nginx_conf.settings(
                self.upstreams,
                runtime_dir=self.workdir / "run",
                log_dir=self.workdir / "logs",
                cert=self.cert,
                key=self.key,
                http_listen=f"127.0.0.1:{self.http_port}",
                https_listen=f"127.0.0.1:{self.https_port}",
            )
            conf = nginx_conf.write_config(self.workdir, values)
            error_log = self.workdir / "logs" / "error.log"
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(conf), "-e", str(error_log), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_until(lambda: self._answers() or self.proc.poll() is not None, timeout=15)
            except AssertionError:
                self.stop()
                raise
            if self.proc.poll() is None:
                return self
        raise RuntimeError(f"nginx did not start: {error_log.read_text()[-2000:]}")

    def _answers(self) -> bool:
        try:
            requests.get(self.url + "/health/live", verify=str(self.cert), timeout=2)
        except requests.RequestException:
            return False
        return True

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful shutdown
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.access_log.read_text().splitlines()]

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def session(self) -> requests.Session:
        session = requests.Session()
        session.verify = str(self.cert)
        return session


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

    def ensure_running(self) -> None:
        for instance in self.instances:
            if not instance.running:
                instance.start()

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
def proxy_cluster(app, tmp_path_factory) -> Iterator[Cluster]:
    binary = nginx_binary()
    instances = [Instance(name, free_port(), {}) for name in ("a", "b")]
    proxy = Proxy(binary, tmp_path_factory.mktemp("nginx"), [i.address for i in instances])
    try:
        for instance in instances:
            instance.start()
        proxy.start()
        yield Cluster(proxy, instances)
    finally:
        proxy.stop()
        for instance in instances:
            instance.kill()


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
