"""Every entry point (flask CLI, gunicorn, wsgi.py) reads .env the same way, and refuses a
bad configuration with one line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from bookstore.config import CONFIG_EXIT_STATUS
from bookstore.version import __version__
from tests.conftest import ROOT

PY = sys.executable


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FLASK_SKIP_DOTENV")}
    env.update({"PYTHONPATH": str(ROOT), "FLASK_APP": str(ROOT / "wsgi.py"), **extra})
    return env


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


ENTRY_POINTS = {
    "flask CLI": [PY, "-m", "flask", "create-admin", "--email", "admin@example.com"],
    "gunicorn": [PY, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"],
    "wsgi.py": [PY, "-c", "import wsgi"],
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_missing_secret_is_one_line_and_status_2(entry, tmp_path):
    done = _run(ENTRY_POINTS[entry], tmp_path, _env(APP_ENV="production"))

    assert done.returncode == CONFIG_EXIT_STATUS, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(
        "bookstore: configuration error: SECRET_KEY must be set when APP_ENV=production"
    )
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_dotenv_is_read_by_every_entry_point(entry, tmp_path):
    # A bad value that only .env sets: every entry point must see it, and refuse it.
    (tmp_path / ".env").write_text("CATALOG_MAX_AGE=soon\n")
    done = _run(ENTRY_POINTS[entry], tmp_path, _env(APP_ENV="development"))

    assert done.returncode == CONFIG_EXIT_STATUS, done.stderr
    assert done.stderr.strip().splitlines() == [
        "bookstore: configuration error: CATALOG_MAX_AGE must be an integer, got 'soon'"
    ]


def test_the_environment_wins_over_dotenv(tmp_path):
    (tmp_path / ".env").write_text(
        "PUBLIC_URL=https://from-dotenv.example\nCATALOG_MAX_AGE=7\nAPP_ENV=production\n"
    )
    show = "import wsgi; c = wsgi.app.config; print(c['PUBLIC_URL'], c['CATALOG_MAX_AGE'])"
    done = _run([PY, "-c", show], tmp_path, _env(APP_ENV="development", CATALOG_MAX_AGE="30"))

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["https://from-dotenv.example", "30"]
    skipped = _run([PY, "-c", show], tmp_path, _env(APP_ENV="development", FLASK_SKIP_DOTENV="1"))
    assert skipped.stdout.split() == ["60"]  # no PUBLIC_URL, the default max-age


def test_gunicorn_refuses_a_bad_thread_count_in_one_line(tmp_path):
    done = _run(
        ENTRY_POINTS["gunicorn"], tmp_path, _env(APP_ENV="development", GUNICORN_THREADS="x")
    )

    assert done.returncode == CONFIG_EXIT_STATUS
    assert done.stderr.strip().splitlines() == [
        "bookstore: configuration error: GUNICORN_THREADS must be an integer, got 'x'"
    ]


@pytest.mark.parametrize("cpus", [1, 2, None])
def test_default_workers_follow_the_cpus_this_process_may_use(cpus, tmp_path):
    available = sorted(os.sched_getaffinity(0))
    if cpus is not None and len(available) < cpus:
        pytest.skip(f"needs {cpus} CPUs")
    allowed = set(available if cpus is None else available[:cpus])
    script = (
        "import os, runpy, sys; os.sched_setaffinity(0, set(map(int, sys.argv[1].split(','))));"
        f"print(runpy.run_path({str(ROOT / 'gunicorn.conf.py')!r})['workers'])"
    )
    env = _env(APP_ENV="development")
    env.pop("WEB_CONCURRENCY", None)
    done = _run([PY, "-c", script, ",".join(map(str, allowed))], tmp_path, env)

    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip().splitlines()[-1]) == min(2 * len(allowed), 4)


def test_one_version_string():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "bookstore.version.__version__"
    }
    try:
        installed = metadata.version("bookstore")
    except metadata.PackageNotFoundError:
        installed = __version__
    assert installed == __version__
