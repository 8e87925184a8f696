"""gunicorn.conf.py's worker hook: the startup heap is frozen once the app is loaded."""

from __future__ import annotations

import gc
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _conf(monkeypatch):
    # The file sets PROMETHEUS_MULTIPROC_DIR for its workers; not for this process.
    monkeypatch.setenv(
        "PROMETHEUS_MULTIPROC_DIR", str(ROOT / "instance" / "prometheus" / "conf-test")
    )
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_loaded_worker_freezes_its_startup_objects(app, monkeypatch):
    conf = _conf(monkeypatch)
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        conf.post_worker_init(worker=None)
        # The app and everything imported are out of the collector's generations now:
        # a full collection no longer walks them.
        assert gc.get_freeze_count() > 10_000
        tracked = {id(obj) for obj in gc.get_objects()}
        assert id(app) not in tracked and id(app.url_map) not in tracked
    finally:
        gc.unfreeze()
