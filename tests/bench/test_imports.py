"""The harness's tests run under ``make test``, which installs the dev set only: the modules
they import must not need the packages of bench/requirements.txt (matplotlib, py-spy)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH_ONLY = ("matplotlib", "py_spy")


def _imported_by_the_tests() -> set[str]:
    names = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bench"):
                if node.module == "bench":  # from bench import cluster, loadgen
                    names.update(f"bench.{alias.name}" for alias in node.names)
                else:
                    names.add(node.module)
    return names


def test_the_tests_find_what_they_import():
    assert {"bench.cluster", "bench.capacity", "bench.report", "bench.mixgen"} <= (
        _imported_by_the_tests()
    )


def test_what_the_tests_import_needs_no_benchmark_only_package():
    modules = sorted(_imported_by_the_tests())
    block = "".join(f"sys.modules[{name!r}] = None; " for name in BENCH_ONLY)
    code = f"import sys; {block}" + "; ".join(f"import {m}" for m in modules)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
