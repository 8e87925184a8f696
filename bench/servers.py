"""gunicorn for the API and for the bare baseline, with the same configuration file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.settings import OUT, ROOT, Settings


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    cafile = None  # plain HTTP

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Remote:
    """A server the benchmark does not start (the cluster of ``make cluster``)."""

    name: str
    url: str
    cafile: str | None = None  # None: trust the certificate it presents

    def stop(self) -> None:
        pass


def start(
    settings: Settings,
    name: str,
    target: str,
    port: int,
    worker_class: str = "gthread",
    extra_env: dict[str, str] | None = None,
) -> Server:
    """``gunicorn -c gunicorn.conf.py <target>``; returns once it answers ``probe``."""
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / f"{name}-{worker_class}.log"
    env = {
        **os.environ,
        **settings.app_env(),
        "PORT": str(port),
        "HOST": "127.0.0.1",
        # "gthread" is the production default: gunicorn.conf.py's own gthread subclass.
        "GUNICORN_WORKER_CLASS": "" if worker_class == "gthread" else worker_class,
        # gunicorn runs gthread instead of sync whenever threads > 1.
        **({"GUNICORN_THREADS": "1"} if worker_class == "sync" else {}),
        "ACCESS_LOG": "-",  # on, to stdout, as in production (written to the log file)
        **(extra_env or {}),
    }
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    cwd = settings.app_dir if target == "wsgi:app" else str(ROOT)
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [gunicorn, "-c", "gunicorn.conf.py", target],
            cwd=cwd,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, port, process, log)
    _wait_ready(server, "/v1/books/1")
    return server


def _wait_ready(server: Server, probe: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name} exited; see {server.log}")
        try:
            with urllib.request.urlopen(server.url + probe, timeout=2) as response:  # noqa: S310
                if response.status == 200 and len(server.worker_pids()) >= 1:
                    # Give every worker its first request (imports, pools, JIT of caches).
                    for _ in range(50):
                        urllib.request.urlopen(server.url + probe, timeout=5).read()  # noqa: S310
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    server.stop()
    raise SystemExit(f"{server.name} did not answer within {timeout:.0f}s; see {server.log}")
