"""The app built in the harness's own process, with the benchmark's production settings.

Used to sign cursors with the benchmark's SECRET_KEY, to register the customer, and to
count the SQL statements each scenario's requests make (``bench.queries``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from flask import Flask

from bench.settings import Settings


@cache
def _app(database_url: str, redis_url: str) -> Flask:
    from bookstore import create_app

    return create_app()


def app(settings: Settings) -> Flask:
    # create_app reads os.environ, as under gunicorn; the log stays quiet here.
    os.environ.update(settings.app_env(LOG_LEVEL="WARNING"))
    return _app(settings.database_url, settings.redis_url)


@contextmanager
def app_context(settings: Settings) -> Iterator[Flask]:
    from bookstore.extensions import db

    flask_app = app(settings)
    with flask_app.app_context():
        try:
            yield flask_app
        finally:
            db.session.remove()


# The command's spellings, newest first: ``flask cache clear`` and ``flask cache-clear``.
CACHE_CLEAR_COMMANDS = (["cache", "clear"], ["cache-clear"])


def clear_cache(flask_app: Flask) -> None:
    """Invalidate the response cache through the app's own CLI command."""
    runner = flask_app.test_cli_runner()
    with flask_app.app_context():  # as the ``flask`` command runs it
        for args in CACHE_CLEAR_COMMANDS:
            if runner.invoke(args=args).exit_code == 0:
                return
    raise SystemExit("the app has no cache clear command (flask cache clear)")
