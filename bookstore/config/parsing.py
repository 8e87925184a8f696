"""Reading the environment: the ``.env`` file, typed readers, one-line errors.

A reader returns its default for an unset or blank variable and raises ``ConfigError``
with one line naming the variable for a bad one; the entry points print that line.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from dotenv import find_dotenv, load_dotenv


class ConfigError(RuntimeError):
    """The environment describes a configuration the service refuses to run with."""


# The exit status of every entry point (wsgi.py, gunicorn.conf.py) on a configuration error.
CONFIG_EXIT_STATUS = 2


def exit_on_config_error(exc: ConfigError) -> NoReturn:
    """One line on stderr and status 2: a configuration error is not a crash."""
    print(f"bookstore: configuration error: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(CONFIG_EXIT_STATUS)


def load_dotenv_file() -> None:
    """Fill unset variables from ``.env``; variables already in the environment win."""
    if read_bool(dict(os.environ), "FLASK_SKIP_DOTENV", False):
        return
    path = find_dotenv(".env", usecwd=True)
    if path:
        load_dotenv(path, override=False)


def read_str(env: dict[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def read_int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def read_bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be a boolean (true/false), got {raw!r}")


def read_float(env: dict[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if not value >= minimum:  # also refuses NaN
        raise ConfigError(f"{name} must be at least {minimum}, got {raw}")
    return value


def read_list(env: dict[str, str], name: str, default: list[str]) -> list[str]:
    raw = env.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]
