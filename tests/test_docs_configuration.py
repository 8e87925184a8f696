"""docs/configuration.md lists every environment variable the code reads, with its default.

The names and literal defaults come from the code itself (``bookstore/config/``'s
readers, ``os.environ`` lookups anywhere in ``bookstore/``, ``gunicorn.conf.py``), so a
new setting without a row, or a default changed in one place only, fails here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT

DOC = ROOT / "docs" / "configuration.md"
README = ROOT / "README.md"
# bookstore.config's readers, all called as (env, name, default, ...)
READERS = {
    "read_str",
    "read_int",
    "read_bool",
    "read_float",
    "read_list",
    "_pem",
    "_rate_limit",
}
NAME_FIRST_READERS = {"_env_int"}  # gunicorn.conf.py's (name, default)
ROW = re.compile(r"^\| ((?:`[A-Z][A-Z0-9_]*`(?:, )?)+) \| ([^|]*) \|", re.M)
UNKNOWN = object()  # computed at run time: the docs describe it in words


def sources() -> Iterator[Path]:
    yield from sorted((ROOT / "bookstore").rglob("*.py"))
    yield ROOT / "gunicorn.conf.py"


def constant(node: ast.expr | None) -> object:
    """The value of a literal default, arithmetic on literals included, else UNKNOWN."""
    if node is None or (isinstance(node, ast.Constant) and node.value == ""):
        return None  # unset
    if all(isinstance(n, ast.Constant | ast.BinOp | ast.operator) for n in ast.walk(node)):
        return eval(compile(ast.Expression(node), "<default>", "eval"))  # noqa: S307 - literals only
    return UNKNOWN


def is_environ_get(call: ast.Call) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "get"
        and (
            (isinstance(func.value, ast.Name) and func.value.id == "env")
            or (
                isinstance(func.value, ast.Attribute)
                and func.value.attr == "environ"
                and isinstance(func.value.value, ast.Name)
                and func.value.value.id == "os"
            )
        )
    )


def read_settings() -> dict[str, object]:
    """Every variable name the code reads from the environment, with its literal default."""
    found: dict[str, object] = {}
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                args = node.args
                if isinstance(node.func, ast.Name) and node.func.id in READERS:
                    name, default = args[1], args[2] if len(args) > 2 else None
                elif (
                    isinstance(node.func, ast.Name)
                    and node.func.id in NAME_FIRST_READERS
                    or is_environ_get(node)
                ):
                    name, default = args[0], args[1] if len(args) > 1 else None
                else:
                    continue
                if isinstance(name, ast.Constant) and str(name.value).isupper():
                    found.setdefault(name.value, constant(default))
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "RATE_LIMITS" for t in node.targets
            ):
                found.update(ast.literal_eval(node.value))
    return found


def documented(text: str) -> dict[str, str]:
    rows: dict[str, str] = {}
    for names, default in ROW.findall(text):
        defaults = [part.strip(" `") for part in default.split(",")]
        for index, name in enumerate(re.findall(r"`([A-Z][A-Z0-9_]*)`", names)):
            rows[name] = defaults[index] if len(defaults) > index else default
    return rows


def spelled(value: object) -> set[str]:
    """How a default may be written in the table."""
    if isinstance(value, bool):
        return {str(value).lower()}
    if isinstance(value, float) and value.is_integer():
        return {str(int(value)), str(value)}
    return {str(value)}


def test_the_reader_finds_settings_and_their_defaults():
    settings = read_settings()
    assert settings["BCRYPT_ROUNDS"] == 12
    assert settings["MAX_CONTENT_LENGTH"] == 1024 * 1024
    assert settings["RATELIMIT_LOGIN_ACCOUNT"] == "5/minute"
    assert settings["GUNICORN_KEEPALIVE"] == 5
    assert settings["ADMIN_PASSWORD"] is None
    assert settings["DATABASE_URL"] is UNKNOWN
    assert documented("| `A_B`, `C` | `1`, `x` | m |\n") == {"A_B": "1", "C": "x"}


def test_every_setting_is_documented_and_nothing_else():
    settings, rows = read_settings(), documented(DOC.read_text())
    assert sorted(set(settings) - set(rows)) == [], "missing from docs/configuration.md"
    assert sorted(set(rows) - set(settings)) == [], "documented but never read"


def test_documented_defaults_are_the_code_defaults():
    settings, rows = read_settings(), documented(DOC.read_text())
    wrong = {
        name: (rows[name], value)
        for name, value in settings.items()
        if value not in (None, UNKNOWN) and rows.get(name) not in spelled(value)
    }
    assert wrong == {}


def test_the_readme_essentials_are_real_settings():
    essentials = documented(README.read_text().split("## Configuration", 1)[1])
    assert essentials and set(essentials) <= set(read_settings())
