"""gunicorn settings, every one from the environment with a production-sane default.

Worker class: ``gthread`` (as bookstore.serving.workers.BookstoreWorker, which answers the
requests gunicorn refuses in the JSON envelope and refuses new connections as soon as a
graceful stop begins). Threaded workers keep HTTP keep-alive
connections (browsers, Postman, load balancers) open instead of reconnecting per request
as sync workers do, and a slow client does not pin a whole process. Each worker's
database pool is sized to its thread count (bookstore/config/settings.py) so connections are
reused, never reopened.
"""

import os
import shutil
import sys

# gunicorn reads this file before it applies --chdir: find the app's package from here.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# Prometheus's multi-process mode: each worker writes its metrics to files in this folder
# and a scrape adds them up. Set before prometheus_client is first imported (below).
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    os.path.join(HERE, "instance", "prometheus", f"gunicorn-{os.environ.get('PORT', '8000')}"),
)
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from prometheus_client import multiprocess  # noqa: E402

from bookstore.config import ConfigError, exit_on_config_error, load_config  # noqa: E402

# Workers per CPU this process may run on, and at most: each worker holds its own database
# pool, and a container on a large host would otherwise exceed PostgreSQL's connections.
WORKERS_PER_CPU = 2
MAX_DEFAULT_WORKERS = 4


def default_workers() -> int:
    return min(WORKERS_PER_CPU * len(os.sched_getaffinity(0)), MAX_DEFAULT_WORKERS)


def _env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        exit_on_config_error(ConfigError(f"{name} must be an integer, got {raw!r}"))
    if value < minimum:
        exit_on_config_error(ConfigError(f"{name} must be at least {minimum}, got {value}"))
    return value


# Refuse a bad configuration here, in one line, before any worker tries to boot with it.
try:
    load_config()
except ConfigError as exc:
    exit_on_config_error(exc)

bind = (
    os.environ.get("BIND")
    or f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
)
workers = _env_int("WEB_CONCURRENCY", default_workers(), minimum=1)
worker_class = (
    os.environ.get("GUNICORN_WORKER_CLASS") or "bookstore.serving.workers.BookstoreWorker"
)
threads = _env_int("GUNICORN_THREADS", 4, minimum=1)
timeout = _env_int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 20)
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", 0)
# Trust X-Forwarded-* only from these addresses (the load balancer in front).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_line = 8190
limit_request_fields = 100
preload_app = False
accesslog = os.environ.get("ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
logger_class = "bookstore.serving.logs.GunicornJsonLogger"
# gunicorn's control socket defaults to one path per user, shared by every instance on
# the host; this service is managed by signals and its process supervisor instead.
control_socket_disable = True


def on_starting(server):
    """Start the metrics from zero: the files of an earlier run's workers are not ours."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)


def child_exit(server, worker):
    """A worker is gone: its live gauges no longer count (its counters still do)."""
    multiprocess.mark_process_dead(worker.pid)
