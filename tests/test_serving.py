"""The gunicorn worker's own behaviour (bookstore.serving), below the app."""

from __future__ import annotations

import os

import pytest
from gunicorn.config import Config

from bookstore.serving import DrainingThreadWorker


@pytest.fixture
def make_worker():
    made = []

    def make(threads: int) -> DrainingThreadWorker:
        cfg = Config()
        cfg.set("threads", threads)
        worker = DrainingThreadWorker(
            age=1, ppid=os.getpid(), sockets=[], app=None, timeout=30, cfg=cfg, log=None
        )
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.tmp.close()  # the heartbeat file every gunicorn worker opens


def _accepting(worker: DrainingThreadWorker) -> bool:
    # The test gthread's loop makes before each wait for events.
    return worker.nr_conns < worker.worker_connections


def test_a_worker_accepts_only_while_a_thread_is_free(make_worker):
    worker = make_worker(threads=2)
    worker.nr_conns = 5  # kept-alive connections alone do not stop it
    assert _accepting(worker)
    worker.in_service = 1
    assert _accepting(worker)
    worker.in_service = 2  # every thread busy: the listen queue waits for another worker
    assert not _accepting(worker)
    worker.in_service = 1
    assert _accepting(worker)


def test_the_configured_connection_limit_still_applies(make_worker):
    worker = make_worker(threads=4)
    worker.worker_connections = 3
    worker.nr_conns = 3
    assert not _accepting(worker)
    worker.nr_conns = 2
    assert _accepting(worker)


def test_requests_in_service_are_counted_from_submission_to_completion(make_worker, monkeypatch):
    from gunicorn.workers.gthread import ThreadWorker

    worker = make_worker(threads=2)
    monkeypatch.setattr(ThreadWorker, "enqueue_req", lambda self, conn: None)
    monkeypatch.setattr(ThreadWorker, "finish_request", lambda self, conn, fs: None)
    worker.enqueue_req("a")
    worker.enqueue_req("b")
    assert worker.in_service == 2 and not _accepting(worker)
    worker.finish_request("a", None)
    assert worker.in_service == 1 and _accepting(worker)
