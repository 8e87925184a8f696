"""Orders under real concurrency: a multi-worker gunicorn against the real PostgreSQL."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg2
import pytest
import requests

from tests.conftest import DATABASE_URL, LiveServer
from tests.ordering import caller, order_body, scalar, stock_of

pytestmark = pytest.mark.e2e


def _post_all(url: str, requests_: list[tuple[dict[str, Any], dict[str, str]]]) -> list[Any]:
    """Send every request at the same moment (a barrier), one thread each."""
    barrier = threading.Barrier(len(requests_))

    def send(item: tuple[dict[str, Any], dict[str, str]]) -> requests.Response:
        body, headers = item
        barrier.wait()
        return requests.post(url, json=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(len(requests_)) as pool:
        return list(pool.map(send, requests_))


def test_fifty_customers_race_for_the_last_ten_copies(live_server, make):
    book = make.book(stock=10)
    customers = [caller(make) for _ in range(50)]
    body = order_body((book.id, 1))

    responses = _post_all(
        live_server.url + "/v1/orders", [(body, customer.with_key()) for customer in customers]
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] * 10 + [409] * 40, [r.text[:300] for r in responses]
    for response in responses:
        if response.status_code == 409:
            error = response.json()["error"]
            assert error["code"] == "OUT_OF_STOCK"
            assert error["details"][0]["field"] == "items.0.quantity"
    assert stock_of(book.id) == 0
    assert scalar("SELECT count(*) FROM orders") == 10
    assert scalar("SELECT sum(quantity) FROM order_items WHERE book_id = :id", id=book.id) == 10


def test_twenty_identical_requests_with_one_key_make_one_order(live_server, make):
    book = make.book(stock=100)
    alice = caller(make)
    headers = alice.with_key()
    body = order_body((book.id, 3))

    responses = _post_all(live_server.url + "/v1/orders", [(body, headers)] * 20)

    assert scalar("SELECT count(*) FROM orders") == 1
    assert stock_of(book.id) == 97
    created = [r for r in responses if r.status_code == 201]
    originals = [r for r in created if "Idempotent-Replayed" not in r.headers]
    assert len(originals) == 1
    for response in responses:
        if response.status_code == 201:
            assert response.content == originals[0].content
            assert response.headers["Location"] == originals[0].headers["Location"]
            if response is not originals[0]:
                assert response.headers["Idempotent-Replayed"] == "true"
        else:
            assert response.status_code == 409
            assert response.json()["error"]["code"] == "IDEMPOTENCY_KEY_IN_USE"
            assert response.headers["Retry-After"] == "1"
    late = requests.post(live_server.url + "/v1/orders", json=body, headers=headers, timeout=10)
    assert late.headers["Idempotent-Replayed"] == "true"
    assert late.content == originals[0].content


# -- a worker killed in the middle of an order ------------------------------------------


def _socket_inodes(port: int) -> set[str]:
    """Inodes of the local TCP sockets bound to ``port`` (/proc/net/tcp, tcp6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def _owner_of_client_port(pids: list[int], port: int) -> int:
    """The worker whose database connection uses this client port."""
    wanted = {f"socket:[{inode}]" for inode in _socket_inodes(port)}
    owners = set()
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    owners.add(pid)
            except FileNotFoundError:
                continue
    assert len(owners) == 1, owners
    return owners.pop()


def _wait_for(probe, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_worker_killed_mid_order_leaves_nothing_and_the_key_retries(make):
    book = make.book(stock=5)
    alice = caller(make)
    headers = alice.with_key()
    body = order_body((book.id, 2))
    server = LiveServer(workers=2).start()
    blocker = psycopg2.connect(DATABASE_URL)
    watcher = psycopg2.connect(DATABASE_URL)
    watcher.autocommit = True
    outcome: dict[str, Any] = {}

    def place_order() -> None:
        try:
            outcome["response"] = requests.post(
                server.url + "/v1/orders", json=body, headers=headers, timeout=30
            )
        except requests.ConnectionError as exc:
            outcome["error"] = exc

    try:
        # Hold the book's row lock so the order blocks, deterministically, mid-transaction:
        # after claiming its key, while reserving stock.
        with blocker.cursor() as cursor:
            cursor.execute("SELECT id FROM books WHERE id = %s FOR UPDATE", (book.id,))
            cursor.execute("SELECT pg_backend_pid()")
            blocker_pid = cursor.fetchone()[0]
        request = threading.Thread(target=place_order)
        request.start()

        def blocked_backend():
            with watcher.cursor() as cursor:
                cursor.execute(
                    "SELECT pid, client_port FROM pg_stat_activity "
                    "WHERE application_name = 'bookstore' AND %s = ANY(pg_blocking_pids(pid))",
                    (blocker_pid,),
                )
                return cursor.fetchone()

        backend_pid, client_port = _wait_for(blocked_backend)
        worker = _owner_of_client_port(server.worker_pids(), client_port)
        os.kill(worker, signal.SIGKILL)
        request.join(timeout=30)
        assert "error" in outcome and "response" not in outcome
        blocker.rollback()  # release the row: the orphaned transaction resumes, then dies

        def backend_gone() -> bool:
            with watcher.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend_pid,))
                return cursor.fetchone() is None

        _wait_for(backend_gone)
        assert scalar("SELECT count(*) FROM orders") == 0
        assert scalar("SELECT count(*) FROM order_items") == 0
        assert scalar("SELECT count(*) FROM idempotency_keys") == 0
        assert stock_of(book.id) == 5

        url = server.url + "/v1/orders"
        retried = requests.post(url, json=body, headers=headers, timeout=10)
        assert retried.status_code == 201, retried.text
        assert "Idempotent-Replayed" not in retried.headers
        replayed = requests.post(url, json=body, headers=headers, timeout=10)
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert replayed.content == retried.content
        assert scalar("SELECT count(*) FROM orders") == 1
        assert stock_of(book.id) == 3
    finally:
        blocker.close()
        watcher.close()
        server.stop()


def test_two_orders_racing_for_the_last_pending_slot_one_wins(live_server, make):
    books = [make.book(stock=1000) for _ in range(3)]
    cap = 5  # ORDER_MAX_PENDING's default, which the server runs with
    url = live_server.url + "/v1/orders"
    for _ in range(10):
        alice = caller(make)
        for _ in range(cap - 1):
            response = requests.post(
                url, json=order_body((books[0].id, 1)), headers=alice.with_key(), timeout=10
            )
            assert response.status_code == 201, response.text
        # Different books: no row lock on a book orders them, only the customer's.
        racing = [(order_body((book.id, 1)), alice.with_key()) for book in books[1:]]

        responses = _post_all(url, racing)

        assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
        [refused] = [r for r in responses if r.status_code == 409]
        assert refused.json()["error"]["code"] == "TOO_MANY_PENDING_ORDERS"
        pending = "SELECT count(*) FROM orders WHERE user_id = :id AND status = 'pending'"
        assert scalar(pending, id=alice.id) == cap
    assert sum(stock_of(book.id) for book in books) == 3000 - 10 * cap
