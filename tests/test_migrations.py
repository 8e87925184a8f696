"""Alembic builds the schema from nothing on SQLite too (the embedded default), and the
models and migrations agree: ``flask db check`` finds nothing to generate on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import DATABASE_URL

ROOT = Path(__file__).resolve().parent.parent


def test_upgrade_seed_and_downgrade_on_sqlite(tmp_path):
    env = {
        **os.environ,
        "APP_ENV": "development",
        "FLASK_APP": "wsgi.py",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
    }
    env.pop("REDIS_URL", None)
    flask = [sys.executable, "-m", "flask"]
    for args in (["db", "upgrade"], ["seed"], ["db", "downgrade", "base"], ["db", "upgrade"]):
        done = subprocess.run(flask + args, cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    assert (
        "Loaded the sample catalog"
        in subprocess.run(
            flask + ["seed"], cwd=ROOT, env=env, capture_output=True, text=True
        ).stdout
    )


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """An empty PostgreSQL database beside the test one, dropped afterwards."""
    url = make_url(DATABASE_URL)
    if not url.drivername.startswith("postgresql"):
        pytest.skip("flask db check is checked on PostgreSQL, where the full-text column is")
    name = f"{url.database}_autogen"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_flask_db_check_finds_no_changes_on_postgresql(fresh_postgres):
    env = {**os.environ, "APP_ENV": "development", "FLASK_APP": "wsgi.py"}
    env["DATABASE_URL"] = fresh_postgres
    env.pop("REDIS_URL", None)

    def flask(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "flask", *args]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)

    assert flask("db", "upgrade").returncode == 0
    check = flask("db", "check")
    assert check.returncode == 0, check.stderr[-3000:]
    assert "No new upgrade operations detected" in check.stdout + check.stderr
    # Only the full-text column and its index are ignored: any other drift is reported.
    engine = create_engine(fresh_postgres)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE books ADD COLUMN stray integer"))
        conn.execute(text("CREATE INDEX ix_books_stray ON books (stray)"))
    engine.dispose()
    drift = flask("db", "check")
    assert drift.returncode != 0
    assert "books.stray" in drift.stderr and "ix_books_stray" in drift.stderr
