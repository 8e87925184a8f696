"""Fixtures: a real PostgreSQL (TEST_DATABASE_URL) and Redis (TEST_REDIS_URL), never mocks.

The schema is built once per run by the Alembic migrations (after dropping whatever the
test database held), and every table and the Redis database are emptied after each test,
so tests see committed data exactly as a real gunicorn would. An exported DATABASE_URL or
REDIS_URL (the app's own) is ignored: the suite sets both from the TEST_* variables, and
refuses a database whose name does not end in ``_test``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from bookstore import create_app
from bookstore.auth import create_access_token
from bookstore.db import reads
from bookstore.extensions import db
from tests import factories

# Fixture modules shared by several test packages.
pytest_plugins = ["tests.webhook_support"]

ROOT = Path(__file__).resolve().parent.parent
# Under pytest-xdist (`make test`) worker gwN runs on its own database and Redis database,
# derived from the TEST_* ones: gw0 uses them as given (docs/development.md).
WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
REDIS_DATABASES = 16  # Redis' default count of numbered databases


def worker_database_url(url: str, worker: int) -> str:
    """``..._test`` -> ``..._gwN_test`` for worker N > 0; a name not ending in _test is kept
    (pytest_configure refuses it)."""
    parsed = make_url(url)
    name = parsed.database or ""
    if worker == 0 or not name.endswith("_test"):
        return url
    name = f"{name.removesuffix('_test')}_gw{worker}_test"
    return parsed.set(database=name).render_as_string(hide_password=False)


def worker_redis_url(url: str, worker: int) -> str:
    """The next database index for each worker N > 0 (wrapping round at 16)."""
    parsed = urlsplit(url)
    index = int(parsed.path.strip("/") or 0)
    path = f"/{(index + worker) % REDIS_DATABASES}"
    return urlunsplit((parsed.scheme, parsed.netloc, path, parsed.query, parsed.fragment))


DATABASE_URL = worker_database_url(
    os.environ.get("TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/bookstore_test",
    WORKER,
)
REDIS_URL = worker_redis_url(
    os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/15", WORKER
)
SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
TEST_ENV = {
    "APP_ENV": "testing",
    "SECRET_KEY": SECRET,
    "DATABASE_URL": DATABASE_URL,
    "REDIS_URL": REDIS_URL,
    "BCRYPT_ROUNDS": "4",
    "LOG_LEVEL": "WARNING",
    # A developer's .env must not leak into the tests (tests/config/test_settings.py reads one).
    "FLASK_SKIP_DOTENV": "1",
}


def pytest_configure(config: pytest.Config) -> None:
    # The suite drops the schema of its database: only one named as a test database.
    name = Path(make_url(DATABASE_URL).database or "").stem
    if not name.endswith("_test"):
        pytest.exit(
            f"refusing to run: the database {name!r} of TEST_DATABASE_URL does not end in "
            "_test, and the suite drops its schema",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )
    # Every app and subprocess the tests start sees the test targets, never the user's.
    os.environ.update({"DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL})


def _ensure_database(url: str) -> None:
    """Create the test database if it is missing (the server itself must be up)."""
    target = make_url(url)
    if not target.drivername.startswith("postgresql"):
        return
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        found = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}
        ).first()
        if not found:
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def _reset_schema(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            else:
                db.drop_all()
        upgrade()


@pytest.fixture(scope="session")
def app():
    os.environ.update(TEST_ENV)
    _ensure_database(DATABASE_URL)
    app = create_app()
    _reset_schema(app)
    return app


# What TRUNCATE ... RESTART IDENTITY does to the sequences: the next id is the first again.
RESTART_SEQUENCES = text(
    "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) "
    "FROM pg_sequences WHERE schemaname = current_schema()"
)


@pytest.fixture(autouse=True)
def _clean_tables(request, app) -> Iterator[None]:
    yield
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            # Not TRUNCATE, which gives every table and sequence a new file after each test.
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))
            if conn.dialect.name == "postgresql":
                conn.execute(RESTART_SEQUENCES)


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    """Empty this run's Redis database after each test (ids restart with the tables)."""
    yield
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


@pytest.fixture
def make_app(app) -> Iterator[Callable[..., Flask]]:
    """Build another app instance on the same database (a restart, or other settings)."""
    made: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        made.append(create_app(overrides))
        return made[-1]

    yield build
    for other in made:
        with other.app_context():
            db.engine.dispose()


@pytest.fixture
def redis_server():
    """A private redis-server on a spare port, for tests that stop it or count commands."""
    from tests.redis_server import RedisServer

    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def app_ctx(app) -> Iterator[None]:
    with app.app_context():
        yield
        db.session.remove()


class IsolatedClient(FlaskClient):
    """Each request in its own app context, as under a real server.

    Otherwise a request reuses the test's app context, and with it ``g`` (the cached
    identity of an earlier request) and the database session.
    """

    def open(self, *args: Any, **kwargs: Any):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.fixture
def make(app_ctx) -> factories.Factory:
    """Factories that commit real rows: ``make.book(price="9.99")``."""
    return factories.Factory()


def _token_headers(role: str) -> dict[str, str]:
    user = factories.Factory().user(role=role)
    return {"Authorization": f"Bearer {create_access_token(user.id, user.role)}"}


@pytest.fixture
def admin_headers(app_ctx) -> dict[str, str]:
    return _token_headers("admin")


@pytest.fixture
def auth_headers(app_ctx) -> dict[str, str]:
    """A customer's bearer token."""
    return _token_headers("customer")


class QueryCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, *args: Any) -> None:
        self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(app_ctx) -> Iterator[QueryCounter]:
    counter = QueryCounter()
    engines = reads.engines()  # the session's and the read path's
    for engine in engines:
        event.listen(engine, "before_cursor_execute", counter)
    yield counter
    for engine in engines:
        event.remove(engine, "before_cursor_execute", counter)


# -- a real gunicorn ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """gunicorn with the production config, started on a free port."""

    def __init__(self, env: dict[str, str] | None = None, workers: int = 2) -> None:
        # gunicorn inherits this bound socket: a port that was merely free a moment ago can
        # be taken by another test run's server, which would then answer our requests.
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = ROOT / "instance" / f"gunicorn-{self.port}.log"
        self.env = {
            **os.environ,
            **TEST_ENV,
            "PORT": str(self.port),
            "BIND": f"fd://{self.sock.fileno()}",
            "WEB_CONCURRENCY": str(workers),
            **(env or {}),
        }
        self.workers = int(self.env["WEB_CONCURRENCY"])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20) -> LiveServer:
        self.log.parent.mkdir(exist_ok=True)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(self.sock.fileno(),),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text()[-2000:]}")
            try:
                # Ready once it answers and every worker is forked (gunicorn spawns them
                # one at a time, so the first can answer before the last exists).
                answered = requests.get(self.url + "/health/live", timeout=1).status_code == 200
                if answered and len(self.worker_pids()) >= self.workers:
                    return self
                time.sleep(0.05)
            except (requests.ConnectionError, requests.Timeout):
                # The socket accepts before gunicorn does: a booting server times out.
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not become ready")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.sock.close()

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]


@pytest.fixture(scope="session")
def live_server(app) -> Iterator[LiveServer]:
    server = LiveServer().start()
    yield server
    server.stop()
