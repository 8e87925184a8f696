"""A throwaway PostgreSQL cluster of our own, to stop and start without touching the
shared server: initdb into a temporary directory, then pg_ctl on a spare port."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import free_port

BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


class PgCluster:
    def __init__(self) -> None:
        if not (BIN / "initdb").exists():
            pytest.skip(f"PostgreSQL server binaries not found in {BIN} (set PG_BIN)")
        self.dir = Path(tempfile.mkdtemp(prefix="bookstore-pg-"))
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        # initdb refuses to run as root: then the cluster belongs to the postgres user.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *command: str) -> None:
        done = subprocess.run([*self.as_user, *command], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr

    def init(self) -> PgCluster:
        data = str(self.dir / "data")
        self._run(str(BIN / "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-N")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        log = str(self.dir / "server.log")
        self._run(
            str(BIN / "pg_ctl"),
            "-D",
            str(self.dir / "data"),
            "-o",
            options,
            "-l",
            log,
            "-w",
            "start",
        )

    def stop(self) -> None:
        # fast: roll back open transactions and close every connection at once.
        self._run(str(BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        if (self.dir / "data" / "postmaster.pid").exists():
            subprocess.run(
                [
                    *self.as_user,
                    str(BIN / "pg_ctl"),
                    "-D",
                    str(self.dir / "data"),
                    "-m",
                    "immediate",
                    "stop",
                ],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(self.dir, ignore_errors=True)
