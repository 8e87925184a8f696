"""Every command clients send to a private redis-server, seen through MONITOR."""

from __future__ import annotations

import threading


class Monitor:
    """Every command a client sends (not those a script runs), until ``stop()``."""

    def __init__(self, server) -> None:
        self.server = server
        self.commands: list[str] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Monitor:
        self._stopper = self.server.client()
        self._stopper.ping()  # connect (and handshake) now, not inside the count
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def _run(self) -> None:
        with self.server.client() as client, client.monitor() as monitor:
            self._ready.set()
            for entry in monitor.listen():
                command = entry["command"]
                if command.startswith("ECHO monitor-stop"):
                    return
                if entry.get("client_type") != "lua":
                    self.commands.append(command.split(" ", 1)[0].upper())

    def __exit__(self, *exc: object) -> None:
        self._stopper.echo("monitor-stop")
        self._stopper.close()
        self._thread.join(5)
