"""Configuration, read from environment variables only (12-factor).

Every setting has a safe default. ``APP_ENV=production`` (the default) refuses to start
with a missing or well-known secret; ``make run`` sets ``APP_ENV=development``.

A ``.env`` file (found from the working directory up, as the flask CLI finds it) fills in
variables the environment does not set, for every entry point; the real environment wins.
``FLASK_SKIP_DOTENV=1`` skips it, as it does for the flask CLI.

``parsing`` reads one variable and reports a bad one in one line, ``tokens`` checks what
signs the tokens, ``settings`` builds the whole mapping.
"""

from __future__ import annotations

from bookstore.config.parsing import CONFIG_EXIT_STATUS, ConfigError, exit_on_config_error
from bookstore.config.settings import DEFAULT_SQLITE_URL, RATE_LIMITS, load_config
from bookstore.config.tokens import DEV_SECRET

__all__ = [
    "CONFIG_EXIT_STATUS",
    "DEFAULT_SQLITE_URL",
    "DEV_SECRET",
    "RATE_LIMITS",
    "ConfigError",
    "exit_on_config_error",
    "load_config",
]
