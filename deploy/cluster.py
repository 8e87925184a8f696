"""The production topology on one machine: nginx (TLS) in front of two gunicorn instances
and the webhook worker, on the PostgreSQL and Redis of DATABASE_URL and REDIS_URL.

    python -m deploy.cluster start     # make cluster
    python -m deploy.cluster restart   # make cluster-restart: one instance at a time
    python -m deploy.cluster stop      # make cluster-stop: only what start started

Everything it writes is under instance/cluster/ (gitignored): the certificate, the
generated SECRET_KEY, nginx's rendered configuration, the logs and one pid file per process.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from deploy.processes import (
    ROOT,
    Instance,
    Nginx,
    answers,
    find_nginx,
    owned,
    rolling_restart,
    wait_until,
)

STATE = ROOT / "instance" / "cluster"
INSTANCE_PORTS = (8001, 8002)
HTTP_LISTEN, HTTPS_LISTEN = "127.0.0.1:8080", "127.0.0.1:8443"
DEFAULTS = {
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/bookstore",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "APP_ENV": "production",
    "TRUSTED_PROXIES": "1",  # nginx, and only nginx, is in front of the instances
    "WEB_CONCURRENCY": "2",
    "FLASK_APP": "wsgi.py",
}
INSTALL_HINT = (
    "nginx is not installed: sudo apt-get install nginx-light (Debian, Ubuntu), "
    "sudo dnf install nginx (Fedora) or brew install nginx (macOS), then make cluster again"
)


def environment() -> dict[str, str]:
    env = {**DEFAULTS, **{k: v for k, v in os.environ.items() if v}}
    # One metrics folder per instance (gunicorn.conf.py's default); a shared one would mix them.
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if not env.get("SECRET_KEY"):
        # Generated once and kept: tokens stay valid across restarts of the cluster.
        key_file = STATE / "secret_key"
        if not key_file.exists():
            STATE.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_urlsafe(48))
            key_file.chmod(0o600)
        env["SECRET_KEY"] = key_file.read_text().strip()
    return env


def nginx_binary() -> str:
    found = find_nginx()
    if found is None:
        raise SystemExit(f"make cluster: {INSTALL_HINT}")
    return found


def processes(env: dict[str, str]) -> tuple[Nginx, list[Instance]]:
    instances = [
        Instance(port, env, STATE / "logs" / f"api-{port}.log", STATE / f"api-{port}.pid")
        for port in INSTANCE_PORTS
    ]
    proxy = Nginx(
        nginx_binary(), STATE / "nginx", [i.address for i in instances], HTTP_LISTEN, HTTPS_LISTEN
    )
    return proxy, instances


def ensure_database(url: str) -> None:
    target = make_url(url)
    if not target.drivername.startswith("postgresql"):
        return
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            ).first()
            if not exists:
                print(f"cluster: creating database {target.database}")
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def flask(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=env, check=True)  # noqa: S603


def start_worker(env: dict[str, str]) -> None:
    pidfile = STATE / "worker.pid"
    if owned(pidfile, b"webhooks"):
        return
    with open(STATE / "logs" / "worker.log", "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "flask", "webhooks", "work"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    pidfile.write_text(str(proc.pid))


def start() -> None:
    env = environment()
    proxy, instances = processes(env)
    (STATE / "logs").mkdir(parents=True, exist_ok=True)
    ensure_database(env["DATABASE_URL"])
    flask(env, "db", "upgrade")
    flask(env, "seed")
    for instance in instances:
        if not instance.running:
            instance.start()
    start_worker(env)
    if proxy.pid is None:
        proxy.start()
    wait_until(
        lambda: answers(proxy.url + "/health/ready", proxy.tls_context()),
        60,
        "/health/ready answering 200 through nginx",
    )
    print(f"cluster ready: {proxy.url} (http://{HTTP_LISTEN} redirects to it)")
    print(f"  self-signed certificate: {proxy.cert}")
    print(f"  curl --cacert {proxy.cert} {proxy.url}/v1")
    print(f"  instances: {', '.join(i.url for i in instances)} (metrics: <instance>/metrics)")
    print(f"  logs: {STATE / 'logs'} and {proxy.access_log}; stop with make cluster-stop")


def stop() -> None:
    env = environment()
    proxy, instances = processes(env)
    proxy.stop()
    worker = owned(STATE / "worker.pid", b"webhooks")
    if worker is not None:
        os.kill(worker, signal.SIGTERM)
        wait_until(lambda: owned(STATE / "worker.pid", b"webhooks") is None, 30, "worker stop")
    (STATE / "worker.pid").unlink(missing_ok=True)
    for instance in instances:
        instance.stop()
    print("cluster stopped")


def restart() -> None:
    proxy, instances = processes(environment())
    rolling_restart(proxy, instances)
    print("cluster restarted, one instance at a time")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.cluster")
    parser.add_argument("command", choices=["start", "stop", "restart"])
    command = parser.parse_args(argv).command
    {"start": start, "stop": stop, "restart": restart}[command]()


if __name__ == "__main__":
    main()
