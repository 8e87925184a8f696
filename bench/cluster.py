"""The layout of ``make cluster`` started by the benchmark itself, once per worker class.

nginx (TLS) in front of two gunicorn instances, with deploy.processes (the code ``make
cluster`` runs), on the benchmark's database and Redis and on ports of its own: the
gthread cluster and the sync one run side by side and take turns within each round.
Everything they write is under bench/out/cluster/<worker class>/.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

from bench.settings import OUT, Settings
from deploy.processes import Instance, Nginx

WORKER_CLASSES = ("gthread", "sync")
# The ``server`` name of each worker class's cluster in bench.loadgen's scenarios.
SERVERS = {"gthread": "cluster", "sync": "cluster_sync"}
PORTS_PER_CLUSTER = 4  # two instances, nginx's HTTPS and its HTTP redirect


def enabled(setting: str, nginx: str | None) -> bool:
    """BENCH_PROXY: ``auto`` runs the clusters when nginx is installed, ``on`` insists."""
    value = setting.strip().lower()
    if value in ("auto", ""):
        return nginx is not None
    if value in ("1", "on", "true", "yes"):
        if nginx is None:
            raise SystemExit(
                "BENCH_PROXY=on but nginx is not installed (apt-get install nginx-light)"
            )
        return True
    if value in ("0", "off", "false", "no"):
        return False
    raise SystemExit(f"BENCH_PROXY must be auto, on or off, got {setting!r}")


def ports(base: int, worker_class: str) -> tuple[tuple[int, int], int, int]:
    """(the two instances' ports, nginx's HTTPS port, its HTTP port) from BENCH_CLUSTER_PORT."""
    first = base + 1 + PORTS_PER_CLUSTER * WORKER_CLASSES.index(worker_class)
    return (first, first + 1), first + 2, first + 3


def workers(settings: Settings, worker_class: str) -> str:
    """Workers per instance: BENCH_CLUSTER_WORKERS, or BENCH_CLUSTER_SYNC_WORKERS for sync."""
    if worker_class == "sync" and settings.cluster_sync_workers:
        return settings.cluster_sync_workers
    return settings.cluster_workers


def instance_env(settings: Settings, worker_class: str) -> dict[str, str]:
    """The production settings of bench.settings, as ``make cluster`` sets them behind nginx."""
    env = {
        **os.environ,
        **settings.app_env(
            WEB_CONCURRENCY=workers(settings, worker_class),
            TRUSTED_PROXIES="1",  # nginx, and only nginx, is in front of the instances
            # gunicorn runs gthread instead of sync whenever threads > 1.
            GUNICORN_THREADS="1" if worker_class == "sync" else settings.threads,
            GUNICORN_WORKER_CLASS="" if worker_class == "gthread" else worker_class,
            ACCESS_LOG="-",
        ),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # one folder per instance, from its port
    return env


@dataclass
class Cluster:
    name: str
    proxy: Nginx
    instances: list[Instance]

    @property
    def url(self) -> str:
        return self.proxy.url

    @property
    def cafile(self) -> str:
        return str(self.proxy.cert)

    def stop(self) -> None:
        with contextlib.suppress(SystemExit):
            self.proxy.stop()
        for instance in self.instances:
            try:
                instance.stop()
            except SystemExit:
                instance.kill()


def describe(settings: Settings, layout: str | None) -> dict[str, Any]:
    """What the report says of the cluster: "remote", "started" (by bench.cluster) or None."""
    if layout == "remote":
        return {"layout": layout, "url": settings.cluster_url}
    if layout != "started":
        return {"layout": None}
    return {
        "layout": layout,
        "urls": {
            kind: f"https://127.0.0.1:{ports(settings.cluster_port, kind)[1]}"
            for kind in WORKER_CLASSES
        },
        "instances": 2,
        "workers_per_instance": {kind: int(workers(settings, kind)) for kind in WORKER_CLASSES},
        "threads": {"gthread": int(settings.threads), "sync": 1},
    }


def start(settings: Settings, worker_class: str, nginx: str) -> Cluster:
    state = OUT / "cluster" / worker_class
    (first, second), https, http = ports(settings.cluster_port, worker_class)
    env = instance_env(settings, worker_class)
    instances = [
        Instance(port, env, state / "logs" / f"api-{port}.log", state / f"api-{port}.pid")
        for port in (first, second)
    ]
    proxy = Nginx(
        nginx,
        state / "nginx",
        [i.address for i in instances],
        f"127.0.0.1:{http}",
        f"127.0.0.1:{https}",
    )
    cluster = Cluster(SERVERS[worker_class], proxy, instances)
    try:
        for instance in instances:
            instance.start()
        proxy.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster
