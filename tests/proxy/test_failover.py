"""Instances dying, restarting and being starved, with nginx in front.

A killed instance (SIGKILL to its whole process group) costs no GET: nginx retries
them on the other instance. A POST that was in flight on it is never sent to the other
(proxy_next_upstream keeps nginx's default for non-idempotent methods): the client gets a
503 and retries with its Idempotency-Key. A graceful restart (SIGTERM, start again) of
one instance at a time, drained in nginx first, loses nothing. Slow clients wait in nginx, not in gunicorn.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import psycopg2
import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from deploy.processes import Instance, rolling_restart
from tests.conftest import DATABASE_URL
from tests.faults.load import Load, wait_until
from tests.ordering import caller, new_key, order_body, scalar
from tests.proxy.conftest import Cluster, slow_connection

pytestmark = pytest.mark.e2e


def resending_session(cluster: Cluster, method: str) -> requests.Session:
    """A client that sends a ``method`` request again once when the connection closed before
    any answer (nginx closes idle keep-alive ones on a reload): as a browser does for a GET
    (RFC 9112 9.3.1), and as is safe for an order with its Idempotency-Key (a replay at most)."""
    session = cluster.proxy.session()
    retry = Retry(total=1, connect=1, read=1, status=0, allowed_methods=frozenset({method}))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


def read_load(cluster: Cluster, paths: list[str]):
    sessions: dict[int, requests.Session] = {}

    def traffic(n: int) -> tuple[str, requests.Response]:
        thread = n // 1_000_000  # a session per load thread, made on its first request
        if thread not in sessions:
            sessions[thread] = resending_session(cluster, "GET")
        session = sessions[thread]
        url = cluster.proxy.url + paths[n % len(paths)]
        return "read", session.get(url, verify=str(cluster.proxy.cert), timeout=60)

    return Load(traffic, threads=4, pause=0.005)


def test_a_killed_instance_costs_no_read_and_the_survivor_carries_on(cluster: Cluster, make):
    book = make.book()
    paths = [f"/v1/books/{book.id}", "/v1/books?per_page=5", "/v1", "/health/live"]
    victim, survivor = cluster.instances
    with read_load(cluster, paths) as load:
        wait_until(lambda: len(load.outcomes) > 40, timeout=30)
        victim.kill()
        killed = time.monotonic()
        wait_until(lambda: len(load.between(killed)) > 200, timeout=60)
    failed = [o for o in load.outcomes if o.status != 200]
    # Nothing refused, no error status: every GET the victim could not answer was sent to
    # the survivor. The one exception no proxy can hide is an answer the victim had begun
    # to send when it died (its headers read already): nginx can only cut that response
    # short. Only requests in flight at the kill can be so.
    cut = {"ChunkedEncodingError", "ConnectionError"}
    assert all(o.status is None and o.exception in cut for o in failed), failed
    assert all(o.at < killed for o in failed) and len(failed) <= 4, failed
    # Since the kill, every request ended on the survivor (nginx probes the dead one now
    # and then, and moves on at once).
    last = [line["upstream"].split(", ")[-1] for line in cluster.proxy.log_lines()[-100:]]
    assert set(last) == {survivor.address}
    assert requests.get(survivor.url + "/health/live", timeout=10).status_code == 200


def _held_up(watcher, blocker) -> tuple[int, int] | None:
    """(backend pid, client port) of the app's connection that ``blocker`` holds up, if one
    waits. Only this test's: other tests' servers run beside it, on databases of their own."""
    with watcher.cursor() as cursor:
        cursor.execute(
            "SELECT pid, client_port FROM pg_stat_activity WHERE application_name = 'bookstore' "
            "AND %s = ANY(pg_blocking_pids(pid))",
            (blocker.info.backend_pid,),
        )
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


def _backend_gone(watcher, pid: int) -> bool:
    with watcher.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,))
        return cursor.fetchone() is None


def _owner(instances: list[Instance], local_port: int) -> Instance:
    """The instance whose process holds the TCP connection from ``local_port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                inodes.add(f"socket:[{fields[9]}]")
    for instance in instances:
        for pid in instance.pids():
            with contextlib.suppress(FileNotFoundError, PermissionError):
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    with contextlib.suppress(FileNotFoundError):
                        if fd.readlink().as_posix() in inodes:
                            return instance
    raise AssertionError(f"no instance holds port {local_port}")


def test_a_post_in_flight_on_a_killed_instance_is_not_sent_to_the_other(cluster: Cluster, make):
    book = make.book(stock=5)
    alice = caller(make)
    headers = alice.with_key(new_key())
    blocker = psycopg2.connect(DATABASE_URL)
    watcher = psycopg2.connect(DATABASE_URL)
    watcher.autocommit = True
    outcome: dict[str, object] = {}
    try:
        with blocker.cursor() as cursor:  # the order waits for this row, mid-transaction
            cursor.execute("SELECT id FROM books WHERE id = %s FOR UPDATE", (book.id,))

        def place() -> None:
            outcome["reply"] = cluster.call(
                "POST", "/v1/orders", headers=headers, body=order_body((book.id, 1))
            )

        request = threading.Thread(target=place)
        request.start()
        wait_until(lambda: _held_up(watcher, blocker) is not None, timeout=20)
        backend, port = _held_up(watcher, blocker)
        victim = _owner(cluster.instances, port)
        victim.kill()
        request.join(timeout=60)
        blocker.rollback()  # the dead instance's transaction may now go on: it cannot commit
        wait_until(lambda: _backend_gone(watcher, backend), timeout=20)  # rolled back
    finally:
        blocker.close()
        watcher.close()
    reply = outcome["reply"]
    assert reply.status == 503, reply.body
    assert reply.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    line = cluster.proxy_log_line(reply.headers["X-Request-ID"])
    assert line["upstream"] == victim.address  # tried on one instance only
    assert scalar("SELECT count(*) FROM orders") == 0
    # The client's retry with the same key is served by the survivor, once.
    again = cluster.call("POST", "/v1/orders", headers=headers, body=order_body((book.id, 1)))
    assert again.status == 201, again.body
    assert scalar("SELECT count(*) FROM orders") == 1
    assert scalar("SELECT stock FROM books WHERE id = :id", id=book.id) == 4


def test_restarting_one_instance_at_a_time_loses_nothing(cluster: Cluster, make):
    book = make.book(stock=100_000)
    alice = caller(make)
    paths = [f"/v1/books/{book.id}", "/v1/books?per_page=5", "/v1"]
    writer = resending_session(cluster, "POST")

    def place_order(n: int) -> tuple[str, requests.Response]:
        response = writer.post(
            cluster.proxy.url + "/v1/orders",
            json=order_body((book.id, 1)),
            headers=alice.with_key(new_key()),
            verify=str(cluster.proxy.cert),
            timeout=60,
        )
        return "order", response

    with read_load(cluster, paths) as reads, Load(place_order, threads=1, pause=0.01) as writes:
        wait_until(lambda: len(writes.outcomes) > 5, timeout=30)
        before = {i.address: i.pids() for i in cluster.instances}
        # What `make cluster-restart` does: for each instance in turn, out of nginx's
        # rotation (a reload), SIGTERM and wait, start again, back into the rotation.
        rolling_restart(cluster.proxy, cluster.instances)
        started = time.monotonic()
        wait_until(lambda: len(reads.between(started)) > 40, timeout=30)
    assert [o for o in reads.outcomes if o.status != 200] == []
    assert writes.outcomes and {o.status for o in writes.outcomes} == {201}
    assert scalar("SELECT count(*) FROM orders") == len(writes.outcomes)
    for instance in cluster.instances:  # every process was replaced
        assert instance.pids() and not instance.pids() & before[instance.address]


def test_slow_header_connections_wait_in_nginx_and_do_not_starve_the_api(cluster: Cluster):
    context = cluster.proxy.tls_context()
    held = [slow_connection(cluster.proxy.https_port, context) for _ in range(48)]
    try:
        for _ in range(3):
            reply = cluster.call("GET", "/health/live")
            assert reply.status == 200
        for sock in held:  # still open: nginx keeps them waiting, apart from the API
            sock.sendall(b"x")
    finally:
        for sock in held:
            sock.close()
    # The same connections made straight to one instance take all its threads.
    instance = cluster.instances[0]
    held = [slow_connection(instance.port, None) for _ in range(48)]
    try:
        with pytest.raises(requests.Timeout):
            requests.get(instance.url + "/health/live", timeout=3)
    finally:
        for sock in held:
            sock.close()
