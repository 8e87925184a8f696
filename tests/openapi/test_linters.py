"""The live /openapi.json passes openapi-spec-validator, Spectral and Redocly.

Spectral (``spectral:oas``) and Redocly (``recommended``) are pinned in clients/package.json
(`make clients-deps`); under CI a missing one fails the test rather than skipping it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_spec_validator import validate

from tests.clients.conftest import CLIENTS, node, node_package

pytestmark = pytest.mark.e2e

MAX_SPECTRAL_WARNINGS = 10
MAX_DOCUMENT_BYTES = 200_000
QUIET = {"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true", "NO_COLOR": "1"}


def _run(package: str, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [node(), str(node_package(package) / script), *args]
    env = {**os.environ, **QUIET}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=CLIENTS, env=env
    )


def spectral(document: Path, tmp_path: Path) -> Counter[str]:
    """Spectral's findings by severity (0 error, 1 warning, 2 info, 3 hint)."""
    report = tmp_path / "spectral.json"
    result = _run(
        "@stoplight/spectral-cli",
        "dist/index.js",
        "lint",
        "--ruleset",
        str(CLIENTS / "spectral.yaml"),
        "--format",
        "json",
        "--output",
        str(report),
        "--fail-severity",
        "error",
        str(document),
    )
    assert report.exists(), result.stdout[-2000:] + result.stderr[-2000:]
    findings = json.loads(report.read_text() or "[]")
    names = {0: "error", 1: "warning", 2: "info", 3: "hint"}
    counts = Counter(names[finding["severity"]] for finding in findings)
    counts["exit"] = result.returncode
    return counts


def redocly(document: Path) -> dict[str, Any]:
    """Redocly's totals (``errors``, ``warnings``) and its exit status."""
    result = _run(
        "@redocly/cli",
        "bin/cli.js",
        "lint",
        "--config",
        str(CLIENTS / "redocly.yaml"),
        "--format",
        "json",
        str(document),
    )
    start = result.stdout.find("{")
    assert start >= 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(result.stdout[start:])
    return {**report["totals"], "exit": result.returncode, "problems": report["problems"]}


@pytest.fixture
def document(live_server, tmp_path) -> Path:
    response = requests.get(live_server.url + "/openapi.json", timeout=30)
    assert response.status_code == 200
    path = tmp_path / "openapi.json"
    path.write_bytes(response.content)
    return path


def test_openapi_spec_validator_and_size(document):
    validate(json.loads(document.read_text()))
    assert document.stat().st_size < MAX_DOCUMENT_BYTES


def test_spectral_oas_has_no_errors(document, tmp_path):
    counts = spectral(document, tmp_path)
    assert counts["error"] == 0 and counts["exit"] == 0, counts
    assert counts["warning"] <= MAX_SPECTRAL_WARNINGS, counts


def test_redocly_recommended_has_no_errors(document):
    totals = redocly(document)
    assert totals["errors"] == 0 and totals["exit"] == 0, totals["problems"][:5]
    assert totals["warnings"] == 0, totals["problems"][:5]


def test_the_linters_flag_what_they_are_here_for(document, tmp_path):
    # Without servers, tags and licence, both must complain: the checks above can fail.
    spec = json.loads(document.read_text())
    del spec["servers"], spec["tags"], spec["info"]["license"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(spec))
    assert spectral(broken, tmp_path)["warning"] > MAX_SPECTRAL_WARNINGS
    assert redocly(broken)["errors"] > 0
