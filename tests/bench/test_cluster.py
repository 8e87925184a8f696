"""The benchmark's own clusters: when they run, their ports and settings, which scenarios
they serve (pure functions, no servers)."""

import dataclasses

import pytest

from bench import cluster, loadgen
from bench.capacity import connections_needed
from bench.settings import Settings


@pytest.mark.parametrize(
    ("setting", "nginx", "expected"),
    [
        ("auto", "/usr/sbin/nginx", True),
        ("auto", None, False),
        ("on", "/usr/sbin/nginx", True),
        ("off", "/usr/sbin/nginx", False),
        ("0", None, False),
    ],
)
def test_bench_proxy_runs_the_clusters_when_nginx_is_there_unless_off(setting, nginx, expected):
    assert cluster.enabled(setting, nginx) is expected


@pytest.mark.parametrize(("setting", "nginx"), [("on", None), ("sometimes", "/usr/sbin/nginx")])
def test_bench_proxy_on_without_nginx_or_a_typo_stops_the_run(setting, nginx):
    with pytest.raises(SystemExit):
        cluster.enabled(setting, nginx)


def test_the_two_clusters_take_distinct_ports_after_the_base():
    taken = []
    for worker_class in cluster.WORKER_CLASSES:
        instances, https, http = cluster.ports(8610, worker_class)
        taken += [*instances, https, http]
    assert sorted(taken) == list(range(8611, 8619))
    assert cluster.ports(8610, "gthread") == ((8611, 8612), 8613, 8614)


def test_sync_instances_run_one_thread_so_gunicorn_keeps_the_sync_worker():
    settings = Settings(threads="4", cluster_workers="3")
    sync = cluster.instance_env(settings, "sync")
    gthread = cluster.instance_env(settings, "gthread")
    assert (sync["GUNICORN_WORKER_CLASS"], sync["GUNICORN_THREADS"]) == ("sync", "1")
    # Empty: gunicorn.conf.py's production worker class.
    assert (gthread["GUNICORN_WORKER_CLASS"], gthread["GUNICORN_THREADS"]) == ("", "4")
    for env in (sync, gthread):
        assert env["WEB_CONCURRENCY"] == "3"
        assert env["TRUSTED_PROXIES"] == "1"
        assert env["DATABASE_URL"] == settings.database_url
        assert env["REDIS_URL"] == settings.redis_url
        assert "PROMETHEUS_MULTIPROC_DIR" not in env


def test_the_sync_cluster_may_run_more_workers_than_the_gthread_one():
    settings = Settings(cluster_workers="2", cluster_sync_workers="5")
    assert cluster.instance_env(settings, "sync")["WEB_CONCURRENCY"] == "5"
    assert cluster.instance_env(settings, "gthread")["WEB_CONCURRENCY"] == "2"
    assert cluster.describe(settings, "started")["workers_per_instance"] == {
        "gthread": 2,
        "sync": 5,
    }


def test_describe_names_each_class_url_only_for_started_clusters():
    settings = Settings(cluster_port=9000, cluster_url="https://example.test:8443")
    started = cluster.describe(settings, "started")
    assert started["urls"] == {
        "gthread": "https://127.0.0.1:9003",
        "sync": "https://127.0.0.1:9007",
    }
    assert started["threads"]["sync"] == 1
    assert cluster.describe(settings, "remote") == {
        "layout": "remote",
        "url": "https://example.test:8443",
    }
    assert cluster.describe(settings, None) == {"layout": None}


def _servers(layout):
    return {s.server for s in loadgen.runnable(loadgen.SCENARIOS, layout)}


def test_cluster_scenarios_run_only_where_a_cluster_is():
    assert not _servers(None) & {"cluster", "cluster_sync"}
    # Another's cluster: its worker class is not the benchmark's to choose.
    assert "cluster" in _servers("remote") and "cluster_sync" not in _servers("remote")
    assert {"cluster", "cluster_sync"} <= _servers("started")


def test_each_cluster_scenario_has_its_sync_twin_next_to_it_and_the_same_requests():
    names = [s.name for s in loadgen.CLUSTER]
    assert names[0::2] == [
        "cluster_book_miss",
        "cluster_book_hit",
        "cluster_mix",
        "cluster_mix_read",
    ]
    for gthread, sync in zip(loadgen.CLUSTER[0::2], loadgen.CLUSTER[1::2], strict=True):
        assert sync.name == gthread.name + "_sync"
        assert (gthread.server, sync.server) == ("cluster", "cluster_sync")
        assert (gthread.mode, gthread.paths, gthread.warm) == (sync.mode, sync.paths, sync.warm)
        assert gthread.tags["direct"] == sync.tags["direct"]


def test_the_connections_a_run_with_the_clusters_needs():
    settings = dataclasses.replace(
        Settings(), workers="4", threads="4", cluster_workers="2", cluster_sync_workers=""
    )
    # API and plain 48 each, baselines 16 + 4, gthread cluster 48, sync cluster 12, margin 10
    assert connections_needed(settings) == 186
    assert connections_needed(dataclasses.replace(settings, cluster_sync_workers="3")) == 192


def test_orders_come_from_the_configured_number_of_customers(monkeypatch):
    monkeypatch.setenv("BENCH_CUSTOMERS", "3")
    emails = Settings().customer_emails()
    assert emails == [
        "customer@bench.example",
        "customer1@bench.example",
        "customer2@bench.example",
    ]
    monkeypatch.delenv("BENCH_CUSTOMERS")
    assert len(set(Settings().customer_emails())) == 16
