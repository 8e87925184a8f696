"""The README's tour, run as written, and its endpoint index, checked against the app.

The tour's ``sh`` blocks (between ``<!-- tour:start -->`` and ``<!-- tour:end -->``) run
in order in one bash with ``set -euo pipefail`` against gunicorn on a fresh SQLite file,
set up as ``make run`` sets it up (migrate, seed, development config, no Redis). Every
``curl`` gets ``--fail-with-body``; a command that prints its status with
``-w '%{http_code}'`` must end in a ``# NNN`` comment and print exactly that status.

``python -m tests.test_readme`` prints the endpoint table for the README.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEST_ENV, LiveServer
from tests.security.test_api5_function_authorization import (
    ADMIN_ONLY,
    CUSTOMER_ONLY,
    PUBLIC,
    SIGNED_IN,
)
from tests.webhook_support import Receiver

README = ROOT / "README.md"
TOUR = re.compile(r"<!-- tour:start -->(.*?)<!-- tour:end -->", re.S)
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.S | re.M)
ENDPOINTS = re.compile(r"<!-- endpoints:start -->\n(.*?)<!-- endpoints:end -->", re.S)
STATUS_CHECK = re.compile(r"""-w ['"]%\{http_code\}""")
EXPECTED = re.compile(r"\s#\s*(\d{3})\b[^'\"]*$")
README_API = "API=http://127.0.0.1:8000"
WHO = (
    (PUBLIC, "anyone"),
    (SIGNED_IN, "signed in"),
    (CUSTOMER_ONLY, "customer"),
    (ADMIN_ONLY, "admin"),
)
PRELUDE = r"""set -euo pipefail
curl() {
  if [[ -n "${EXPECT:-}" ]]; then
    local got
    got=$(command curl "$@")
    echo "$got"
    [[ "$got" == "$EXPECT" ]] || { echo "tour: expected HTTP $EXPECT, got $got: curl $*" >&2; return 1; }
  else
    command curl --fail-with-body "$@"
  fi
}
"""


def tour_blocks(text: str) -> list[str]:
    sections = TOUR.findall(text)
    assert sections, "README.md has no <!-- tour:start --> ... <!-- tour:end --> section"
    return [block for section in sections for block in SH_BLOCK.findall(section)]


def logical_lines(block: str) -> Iterator[list[str]]:
    """The block's commands, each as its physical lines (continuations joined)."""
    current: list[str] = []
    for line in block.splitlines():
        current.append(line)
        if not line.endswith("\\"):
            yield current
            current = []
    if current:
        yield current


def prepare(block: str) -> str:
    """Give every status-printing ``curl`` the status its ``# NNN`` comment expects."""
    out = []
    for lines in logical_lines(block):
        if STATUS_CHECK.search(" ".join(lines)):
            found = EXPECTED.search(lines[-1])
            assert lines[0].startswith("curl ") and found, (
                f"a status-printing command must be a curl ending in '# NNN': {lines[0]}"
            )
            lines = [f"EXPECT={found.group(1)} {lines[0]}", *lines[1:]]
        out.extend(lines)
    return "\n".join(out) + "\n"


def tour_script(text: str, api: str) -> str:
    blocks = tour_blocks(text)
    assert text.count(README_API) >= 1 and blocks[0].count(README_API) == 1, (
        f"the tour's first block sets {README_API}"
    )
    script = "".join(prepare(block) for block in blocks)
    return PRELUDE + script.replace(README_API, f"API={api}")


def endpoint_table(app) -> str:
    """The README's endpoint index, from the served OpenAPI document."""
    from bookstore.openapi import build_spec

    who = {
        (method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)): label
        for group, label in WHO
        for method, rule in group
    }
    rows = ["| method | path | who | what |", "|---|---|---|---|"]
    for path, operations in build_spec(app)["paths"].items():
        for method, op in operations.items():
            key = (method.upper(), path)
            assert key in who, f"{key} is not classified in tests/security/test_api5"
            rows.append(f"| {method.upper()} | `{path}` | {who[key]} | {op['summary']} |")
    return "\n".join(rows) + "\n"


# -- the tour ---------------------------------------------------------------------------


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture
def tour_env(tmp_path) -> dict[str, str]:
    """What ``make run`` gives the shell: development, SQLite, no Redis; a fresh file."""
    env = {key: value for key, value in os.environ.items() if key not in TEST_ENV}
    env.update(
        FLASK_APP="wsgi.py",
        APP_ENV="development",
        DATABASE_URL=f"sqlite:///{tmp_path / 'bookstore.db'}",
        REDIS_URL="",
        BCRYPT_ROUNDS="4",  # fast hashing; the policy and the flow are the same
        # The tour's receiver runs on this machine; a real one must be public.
        WEBHOOK_ALLOW_PRIVATE="true",
    )
    return env


def require(tool: str) -> None:
    if shutil.which(tool) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is required by the README's tour (.ci/run installs it)")
        pytest.skip(f"{tool} is not installed")


@pytest.mark.e2e
def test_readme_tour_runs_as_written(tour_env):
    for tool in ("bash", "curl", "jq"):
        require(tool)
    run([sys.executable, "-m", "flask", "db", "upgrade"], tour_env)
    run([sys.executable, "-m", "flask", "seed"], tour_env)
    receiver = Receiver().start()
    server = LiveServer(env={**tour_env, "SECRET_KEY": "", "LOG_LEVEL": "WARNING"}).start()
    try:
        script = tour_script(README.read_text(), server.url)
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=ROOT,
            env={**tour_env, "HOOK_URL": receiver.url},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        secret = re.search(r"whsec_[A-Za-z0-9_\-]+", done.stdout)
        assert secret, "the tour shows the webhook's secret"
        receiver.secret = secret.group(0)
        run([sys.executable, "-m", "flask", "webhooks", "work", "--once"], tour_env)
        pings = [r for r in receiver.received if r.headers["X-Bookstore-Event-Type"] == "ping"]
        assert len(pings) == 1 and pings[0].signature_ok
    finally:
        server.stop()
        receiver.stop()


# -- how the tour is read ---------------------------------------------------------------


def test_status_checks_get_their_expected_status():
    block = (
        "curl -s -o /dev/null -w '%{http_code}\\n' -X PATCH \"$API/x\" \\\n"
        "     -d '{}'   # 412: stale\n"
        "curl -s $API/v1\n"
    )
    assert prepare(block).splitlines() == [
        "EXPECT=412 curl -s -o /dev/null -w '%{http_code}\\n' -X PATCH \"$API/x\" \\",
        "     -d '{}'   # 412: stale",
        "curl -s $API/v1",
    ]
    with pytest.raises(AssertionError, match="ending in '# NNN'"):
        prepare("curl -s -o /dev/null -w '%{http_code}\\n' $API/v1\n")


@pytest.fixture(scope="module")
def small_server() -> Iterator[LiveServer]:
    server = LiveServer(env={"REDIS_URL": ""}, workers=1).start()
    yield server
    server.stop()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("command", "code"),
    [
        ("curl -s -o /dev/null -w '%{http_code}' $API/nowhere   # 404", 0),
        ("curl -s -o /dev/null -w '%{http_code}' $API/nowhere   # 200", 1),
        ("curl -s $API/nowhere", 22),
        ("curl -s $API/v1 | jq -e .data.no_such_key", 1),
    ],
)
def test_the_tour_shell_fails_on_errors(small_server, command, code):
    """A refused request, a wrong expected status or a failing pipe stops the tour."""
    for tool in ("bash", "curl", "jq"):
        require(tool)
    script = PRELUDE + f"API={small_server.url}\n" + prepare(command)
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == code, done.stderr


# -- the endpoint index -----------------------------------------------------------------


def test_endpoint_index_matches_the_app(app):
    found = ENDPOINTS.search(README.read_text())
    assert found, "README.md has no <!-- endpoints:start --> ... <!-- endpoints:end --> table"
    assert found.group(1) == endpoint_table(app), "regenerate: python -m tests.test_readme"


def test_readme_links_to_files_that_exist_or_are_being_written():
    """Relative links point into the repository; docs/ pages may still be on their way."""
    for target in re.findall(r"\]\((?!https?:|#)([^)#]+)", README.read_text()):
        path = ROOT / target
        assert path.exists() or Path(target).parent == Path("docs"), target


if __name__ == "__main__":
    os.environ.update(TEST_ENV)
    from bookstore import create_app

    sys.stdout.write(endpoint_table(create_app()))
