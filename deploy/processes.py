"""The processes of the local cluster: gunicorn instances and nginx, with pid files.

Used by deploy.cluster (make cluster) and by the proxy tests, so both run the same way.
"""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from deploy import nginx as nginx_conf

ROOT = Path(__file__).resolve().parent.parent


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"cluster: {what} did not happen within {timeout:.0f}s")
        time.sleep(0.2)


def find_nginx() -> str | None:
    """nginx on PATH, or where distributions put it outside a user's PATH."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def answers(url: str, context: ssl.SSLContext | None = None, status: int = 200) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310
            return response.status == status
    except (urllib.error.URLError, OSError):
        return False


def _table() -> list[tuple[int, int, int]]:
    """(pid, parent pid, process group) of every process, from /proc."""
    rows = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        rows.append((int(stat.parent.name), int(fields[1]), int(fields[2])))
    return rows


def children(pid: int) -> set[int]:
    return {child for child, parent, _ in _table() if parent == pid}


def group(pgid: int) -> set[int]:
    return {member for member, _, pgrp in _table() if pgrp == pgid}


def owned(pidfile: Path, marker: bytes) -> int | None:
    """The pid in ``pidfile`` if that process is alive and its command line has
    ``marker`` (a pid reused by another program is not ours)."""
    try:
        pid = int(pidfile.read_text())
        return pid if marker in Path(f"/proc/{pid}/cmdline").read_bytes() else None
    except (OSError, ValueError):
        return None


class Instance:
    """One gunicorn, in its own process group so that it can be stopped as a whole."""

    def __init__(self, port: int, env: Mapping[str, str], log: Path, pidfile: Path) -> None:
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.url = f"http://{self.address}"
        self.env = {**env, "PORT": str(port), "BIND": self.address}
        self.log, self.pidfile = log, pidfile
        self.proc: subprocess.Popen[bytes] | None = None  # when started by this process

    @property
    def pid(self) -> int | None:
        return owned(self.pidfile, b"gunicorn")

    @property
    def running(self) -> bool:
        return self.pid is not None

    def start(self, timeout: float = 60) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.proc = proc
        self.pidfile.write_text(str(proc.pid))

        def up() -> bool:
            if proc.poll() is not None:
                raise SystemExit(f"cluster: gunicorn on :{self.port} exited, see {self.log}")
            return answers(self.url + "/health/live")

        wait_until(up, timeout, f"gunicorn on :{self.port} answering")

    def stop(self, timeout: float = 40) -> None:
        """SIGTERM: gunicorn finishes the requests in flight, then exits."""
        pid = self.pid
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            wait_until(lambda: not self.running, timeout, f"gunicorn on :{self.port} stopping")
        self._reap()

    def kill(self) -> None:
        """SIGKILL to the arbiter and its workers at once: the instance crashes."""
        pid = self.pid
        if pid is not None:
            os.killpg(pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        if self.proc is not None:
            self.proc.wait()
            self.proc = None
        self.pidfile.unlink(missing_ok=True)

    def pids(self) -> set[int]:
        """The arbiter and its workers."""
        pid = self.pid
        return set() if pid is None else group(pid)


class Nginx:
    """nginx in the foreground of its own session, configured from the template."""

    def __init__(
        self, binary: str, workdir: Path, upstreams: Sequence[str], http: str, https: str
    ) -> None:
        self.binary, self.workdir = binary, workdir
        self.upstreams = list(upstreams)
        self.http_listen, self.https_listen = http, https
        self.cert, self.key = nginx_conf.self_signed(workdir.parent / "tls")
        self.conf = workdir / "nginx.conf"
        self.pidfile = workdir / "run" / "nginx.pid"  # written by nginx itself
        self.error_log = workdir / "logs" / "error.log"
        self.access_log = workdir / "logs" / "access.log"
        self.proc: subprocess.Popen[bytes] | None = None  # when started by this process

    @property
    def url(self) -> str:
        return f"https://{self.https_listen}"

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def write(self, down: Sequence[str] = ()) -> None:
        values = nginx_conf.settings(
            self.upstreams,
            down=down,
            runtime_dir=self.workdir / "run",
            log_dir=self.workdir / "logs",
            cert=self.cert,
            key=self.key,
            http_listen=self.http_listen,
            https_listen=self.https_listen,
        )
        nginx_conf.write_config(self.workdir, values)

    @property
    def pid(self) -> int | None:
        return owned(self.pidfile, b"nginx")

    def start(self, timeout: float = 20) -> subprocess.Popen[bytes]:
        self.write()
        proc = subprocess.Popen(  # noqa: S603 - the nginx binary found on PATH
            [self.binary, "-c", str(self.conf), "-e", str(self.error_log), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

        def up() -> bool:
            if proc.poll() is not None:
                raise SystemExit(f"cluster: nginx exited: {self.error_log.read_text()[-800:]}")
            return self.pid == proc.pid and answers(self.url + "/health/live", self.tls_context())

        self.proc = proc
        wait_until(up, timeout, "nginx answering")
        return proc

    def reload(self, down: Sequence[str] = (), timeout: float = 40) -> None:
        """New configuration; returns once every old worker has finished and exited."""
        pid = self.pid
        assert pid is not None, "nginx is not running"
        old = children(pid)
        self.write(down)
        os.kill(pid, signal.SIGHUP)
        wait_until(lambda: not (children(pid) & old), timeout, "nginx reloading")

    def stop(self, timeout: float = 20) -> None:
        pid = self.pid
        if pid is not None:
            os.kill(pid, signal.SIGQUIT)  # graceful: requests in flight are finished
            wait_until(lambda: self.pid is None, timeout, "nginx stopping")
        if self.proc is not None:
            self.proc.wait()
            self.proc = None


def rolling_restart(proxy: Nginx, instances: Sequence[Instance]) -> None:
    """One instance at a time: out of nginx's rotation, SIGTERM, start, back in."""
    for instance in instances:
        proxy.reload(down=[instance.address])  # nothing is sent to it from here on
        instance.stop()
        instance.start()
        proxy.reload()
