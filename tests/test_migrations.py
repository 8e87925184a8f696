"""Alembic builds the schema from nothing on SQLite too (the embedded default)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
