"""Alembic builds the schema from nothing on SQLite too (the embedded default), and the
models and migrations agree: ``flask db check`` finds nothing to generate on PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import DATABASE_URL

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "APP_ENV": "development",
        "FLASK_APP": "wsgi.py",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
    }
    env.pop("REDIS_URL", None)
    return env


FLASK = [sys.executable, "-m", "flask"]


def _flask(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(FLASK + list(args), cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_upgrade_seed_and_downgrade_on_sqlite(tmp_path):
    env = _env(tmp_path)
    for args in (["db", "upgrade"], ["seed"], ["db", "downgrade", "base"], ["db", "upgrade"]):
        _flask(env, *args)
    assert (
        "Loaded the sample catalog"
        in subprocess.run(
            FLASK + ["seed"], cwd=ROOT, env=env, capture_output=True, text=True
        ).stdout
    )


@pytest.fixture
def fresh_postgres() -> str:
    """An empty PostgreSQL database beside the test one, kept between runs and emptied
    first: dropping a database makes the server write a checkpoint, a stall for everyone."""
    url = make_url(DATABASE_URL)
    if not url.drivername.startswith("postgresql"):
        pytest.skip("flask db check is checked on PostgreSQL, where the full-text column is")
    name = f"{url.database}_autogen"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if found.first() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    fresh = url.set(database=name)
    engine = create_engine(fresh)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return fresh.render_as_string(hide_password=False)


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


def test_refresh_families_are_carried_over_from_existing_tokens(tmp_path):
    env = _env(tmp_path)
    _flask(env, "db", "upgrade", "0006")
    with sqlite3.connect(tmp_path / "fresh.db") as conn:
        conn.execute(
            "INSERT INTO users (id, email, password_hash, role, active, token_version, "
            "created_at, updated_at) VALUES (1, 'a@example.com', 'x', 'customer', 1, 0, "
            "'2026-11-01 00:00:00', '2026-11-01 00:00:00')"
        )
        rows = [
            ("h1", "live", "2026-11-01 10:00:00", None),
            ("h2", "live", "2026-11-02 10:00:00", None),
            ("h3", "ended", "2026-11-03 10:00:00", "2026-11-04 10:00:00"),
        ]
        conn.executemany(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at, expires_at,"
            " revoked_at) VALUES (?, ?, 1, ?, '2026-12-30 00:00:00', ?)",
            rows,
        )
    _flask(env, "db", "upgrade")
    with sqlite3.connect(tmp_path / "fresh.db") as conn:
        families = conn.execute(
            "SELECT id, user_id, created_at, revoked_at FROM refresh_families ORDER BY id"
        ).fetchall()
    assert families == [
        ("ended", 1, "2026-11-03 10:00:00", "2026-11-04 10:00:00"),
        ("live", 1, "2026-11-01 10:00:00", None),
    ]
    _flask(env, "db", "downgrade", "0006")
    with sqlite3.connect(tmp_path / "fresh.db") as conn:
        revoked = conn.execute(
            "SELECT token_hash, revoked_at FROM refresh_tokens ORDER BY token_hash"
        ).fetchall()
    assert revoked == [("h1", None), ("h2", None), ("h3", "2026-11-04 10:00:00")]
