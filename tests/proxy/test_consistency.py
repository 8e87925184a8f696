"""Two instances, one database and one Redis: what a client sees does not depend on which
instance answers."""

from __future__ import annotations

import threading

import pytest
import requests

from tests.ordering import caller, new_key, order_body, scalar
from tests.proxy.conftest import Cluster

pytestmark = pytest.mark.e2e


def test_a_write_is_read_back_through_every_instance_at_once(cluster: Cluster, make, admin_headers):
    book = make.book(title="Version 0")
    for trial in range(1, 9):
        title = f"Version {trial}"
        reply = cluster.call(
            "PATCH",
            f"/v1/books/{book.id}",
            headers={**admin_headers, "Content-Type": "application/merge-patch+json"},
            body={"title": title},
        )
        assert reply.status == 200, reply.body
        # Through nginx (both instances in turn) and on each instance directly.
        seen = [
            cluster.call("GET", f"/v1/books/{book.id}").json()["data"]["title"] for _ in range(4)
        ]
        for instance in cluster.instances:
            direct = requests.get(f"{instance.url}/v1/books/{book.id}", timeout=10)
            seen.append(direct.json()["data"]["title"])
        assert seen == [title] * 6, trial


def test_one_idempotency_key_sent_to_both_instances_at_once_makes_one_order(cluster: Cluster, make):
    book = make.book(stock=100)
    alice = caller(make)
    trials = 6
    for trial in range(trials):
        headers = alice.with_key(new_key())
        barrier = threading.Barrier(2)
        statuses: list[int] = []

        def send(url: str, headers=headers, barrier=barrier, statuses=statuses) -> None:
            barrier.wait()
            response = requests.post(
                url + "/v1/orders", json=order_body((book.id, 1)), headers=headers, timeout=30
            )
            statuses.append(response.status_code)

        threads = [threading.Thread(target=send, args=(i.url,)) for i in cluster.instances]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        # One creates it; the other replays it (201) or is told the key is in use (409).
        assert 201 in statuses and set(statuses) <= {201, 409}, statuses
        assert scalar("SELECT count(*) FROM orders") == trial + 1
    assert scalar("SELECT stock FROM books WHERE id = :id", id=book.id) == 100 - trials
