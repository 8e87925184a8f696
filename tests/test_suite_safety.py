"""The suite only ever touches TEST_DATABASE_URL, and refuses one not named ``*_test``.

It drops the public schema of its database and empties its Redis database, so a
developer's exported DATABASE_URL (the app's own) must never be what it runs against.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import DATABASE_URL, ROOT

SERVER = make_url(DATABASE_URL)


def _in(database: str, sql: str) -> list[tuple]:
    """Run one statement in ``database`` (autocommit: CREATE DATABASE needs it)."""
    engine = create_engine(SERVER.set(database=database), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            result = conn.execute(text(sql))
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def _admin(sql: str) -> list[tuple]:
    return _in("postgres", sql)


def _databases() -> set[str]:
    return {row[0] for row in _admin("SELECT datname FROM pg_database")}


def _pytest(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # The child is a plain run, not an xdist worker: it must use the TEST_* names as given.
    parent = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    child = {**parent, **env}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_smoke.py"],
        cwd=ROOT,
        env=child,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def scratch_database():
    """A database named after this run's, kept between runs and emptied before use:
    dropping a database makes the server write a checkpoint, a stall for everyone on it."""

    def use(suffix: str) -> str:
        name = f"{SERVER.database.removesuffix('_test')}_{suffix}"
        if name not in _databases():
            _admin(f'CREATE DATABASE "{name}"')
        _in(name, "DROP SCHEMA public CASCADE")
        _in(name, "CREATE SCHEMA public")
        return name

    return use


def test_an_exported_database_url_is_never_touched(scratch_database):
    precious = scratch_database("precious")
    _in(precious, "CREATE TABLE marker (note text)")
    _in(precious, "INSERT INTO marker VALUES ('keep me')")
    suite_db = scratch_database("child_test")

    done = _pytest(
        {
            "DATABASE_URL": SERVER.set(database=precious).render_as_string(hide_password=False),
            "TEST_DATABASE_URL": SERVER.set(database=suite_db).render_as_string(
                hide_password=False
            ),
        }
    )

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert _in(precious, "SELECT note FROM marker") == [("keep me",)]
    assert _in(precious, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(1,)]
    # The run migrated its own database instead.
    assert _in(suite_db, "SELECT count(*) FROM pg_tables WHERE tablename = 'orders'") == [(1,)]


def test_a_database_not_named_test_is_refused():
    name = f"bookstore_not_a_test_db_{os.getpid()}"
    url = SERVER.set(database=name).render_as_string(hide_password=False)

    done = _pytest({"TEST_DATABASE_URL": url})

    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    output = (done.stdout + done.stderr).strip()
    assert f"refusing to run: the database '{name}' of TEST_DATABASE_URL" in output
    assert name not in _databases()  # not even created
