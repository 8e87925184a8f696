"""A burst of keep-alive connections is spread over the gunicorn workers.

gthread workers share one listening socket and the first to wake accepts whatever is
queued, so a burst of connections opened at once (a balancer's upstream pool, a load
generator) used to land mostly on one worker, which then served them all on one core.
``bookstore.serving.DrainingThreadWorker`` makes a worker whose threads are all taken
leave new connections to the others for a moment. Which worker holds which connection
is read from ``/proc``: the workers' socket inodes against the kernel's TCP table.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import LiveServer

pytestmark = pytest.mark.e2e


LISTEN, TIME_WAIT = "0A", "06"


def _server_sockets(server_port: int) -> list[tuple[str, int, int]]:
    """(TCP state, client port, socket inode) of the server's ends of its connections."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == server_port and fields[3] != LISTEN:
                found.append((fields[3], int(fields[2].rsplit(":", 1)[1], 16), int(fields[9])))
    return found


def _established(server_port: int, client_ports: set[int]) -> dict[int, int]:
    """Socket inode -> client port, for the server's ends of our connections."""
    return {
        inode: port
        for state, port, inode in _server_sockets(server_port)
        if state == "01" and port in client_ports
    }


def _holders(server: LiveServer, client_ports: set[int]) -> Counter[int]:
    """How many of our connections each worker process holds."""
    inodes = _established(server.port, client_ports)
    held: Counter[int] = Counter()
    for pid in server.worker_pids():
        fd_dir = Path(f"/proc/{pid}/fd")
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(fd_dir / fd)
            except OSError:
                continue  # closed meanwhile
            if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                held[pid] += 1
    return held


@pytest.mark.parametrize("attempt", [1, 2, 3])  # a lucky split must not pass by chance
def test_a_burst_of_connections_is_spread_over_the_workers(attempt):
    # Two workers of two threads; each round opens four connections at once that send
    # nothing yet, so every accepted one keeps a thread (gunicorn waits for its request).
    # A generous pause: the point is where connections land, not how fast on a busy CI.
    server = LiveServer(
        workers=2, env={"GUNICORN_THREADS": "2", "GUNICORN_ACCEPT_PAUSE_MS": "300"}
    ).start()
    clients: list[socket.socket] = []
    try:
        workers = server.worker_pids()
        assert len(workers) == 2
        # The readiness probe's connection must be gone: a worker still holding it
        # would rightly count one thread as taken.
        deadline = time.monotonic() + 5
        while any(state != TIME_WAIT for state, _, _ in _server_sockets(server.port)):
            assert time.monotonic() < deadline, _server_sockets(server.port)
            time.sleep(0.02)
        for _ in range(4):
            clients.append(socket.create_connection(("127.0.0.1", server.port)))
        ports = {sock.getsockname()[1] for sock in clients}
        deadline = time.monotonic() + 5
        while sum((held := _holders(server, ports)).values()) < 4:
            assert time.monotonic() < deadline, held
            time.sleep(0.02)
        assert sorted(held.values()) == [2, 2], held
        # Each connection is still served: a request on every one gets its answer.
        for sock in clients:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        for sock in clients:
            sock.settimeout(10)
            assert sock.recv(64).startswith(b"HTTP/1.1 200")
    finally:
        for sock in clients:
            sock.close()
        server.stop()
