"""Bookstore API: a Flask application factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib import import_module
from pathlib import Path
from typing import Any

from flask import Flask
from flask.sessions import SessionInterface
from sqlalchemy import event
from sqlalchemy.engine import Engine

# ``extensions.db``, not ``db``: that name in this package is the bookstore.db subpackage.
from bookstore import (
    extensions,
    models,  # noqa: F401 - registers the models with the metadata
)
from bookstore.cli import register_cli
from bookstore.config import DEFAULT_SQLITE_URL, load_config
from bookstore.db import reads, session_end
from bookstore.extensions import cors, migrate
from bookstore.redis import cache, client, ratelimit
from bookstore.serving import metrics
from bookstore.serving.logs import configure_logging
from bookstore.web import headers
from bookstore.web.errors import register_error_handlers
from bookstore.web.headers import register_request_hooks
from bookstore.web.responses import Response

# One line per resource: adding a resource is adding its module here.
BLUEPRINTS = (
    "bookstore.api.root",
    "bookstore.api.authors",
    "bookstore.api.books",
    "bookstore.api.magazines",
    "bookstore.api.auth",
    "bookstore.api.users",
    "bookstore.api.orders",
    "bookstore.api.webhooks",
    "bookstore.api.webhook_deliveries",
    "bookstore.api.metrics",
)
# Blueprints served at the root, outside the versioned API.
UNVERSIONED = ("bookstore.api.root", "bookstore.api.metrics")
EXPOSED_HEADERS = [
    "X-Request-ID",
    "ETag",
    "Link",
    "Location",
    "Retry-After",
    "Idempotent-Replayed",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "RateLimit",
    "RateLimit-Policy",
    "X-Cache",
]

log = logging.getLogger("bookstore")


class BookstoreFlask(Flask):
    """Flask with the app's response class and a 204 for ``OPTIONS`` it answers itself."""

    response_class = Response

    def make_default_options_response(self) -> Response:
        # Flask's own is an empty 200 labelled text/html; nothing comes back but Allow.
        response = super().make_default_options_response()
        response.status_code = 204
        response.set_data(b"")
        del response.headers["Content-Type"]
        return response  # type: ignore[return-value]


class _NoCookieSession(SessionInterface):
    """A stateless API has no cookie session; skip Flask's per-request cookie work."""

    def open_session(self, app: Flask, request: Any) -> None:
        return None

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        return None


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config, logging, extensions, blueprints, error handlers, CLI."""
    # No static folder: the API serves no files of its own (the docs assets come from a
    # package), so Flask's /static route would be an undocumented, useless surface.
    app = BookstoreFlask(__name__, instance_relative_config=False, static_folder=None)
    _load_config(app, config)
    _init_logging(app)
    _init_extensions(app)
    _init_limits_and_cache(app)
    _init_metrics(app)
    _register_blueprints(app)
    _register_errors(app)
    _register_security_headers(app)
    _register_cli(app)
    return app


def _load_config(app: Flask, overrides: Mapping[str, Any] | None) -> None:
    app.config.from_mapping(load_config())
    if overrides:
        app.config.from_mapping(overrides)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.session_interface = _NoCookieSession()
    app.url_map.strict_slashes = True


def _init_logging(app: Flask) -> None:
    configure_logging(app.config["LOG_LEVEL"])
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        if uri == DEFAULT_SQLITE_URL:
            log.warning("DATABASE_URL is not set: using the embedded SQLite database %s", uri)


def _init_extensions(app: Flask) -> None:
    extensions.db.init_app(app)
    session_end.init_app(app)  # after db.init_app: its teardown runs before the extension's
    reads.init_app(app)
    migrate.init_app(app, extensions.db, directory=str(_migrations_dir()))
    cors.init_app(
        app,
        resources={r"/*": {"origins": app.config["CORS_ORIGINS"]}},
        expose_headers=EXPOSED_HEADERS,
        allow_headers=[
            "Authorization",
            "Content-Type",
            "If-Match",
            "If-None-Match",
            "Idempotency-Key",
            "X-Request-ID",
        ],
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        max_age=app.config["CORS_MAX_AGE"],
        # Without Origin there is nothing to answer (flask-cors would send the first
        # allowed origin); Vary: Origin is sent once, by bookstore.web.headers.
        always_send=False,
        vary_header=False,
    )


def _init_limits_and_cache(app: Flask) -> None:
    client.init_app(app)
    # The limiter's before_request must run before the cache's: cache hits count too.
    ratelimit.init_app(app)
    cache.init_app(app)


def _init_metrics(app: Flask) -> None:
    metrics.init_app(app)


def _migrations_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "migrations"


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # SQLite ignores foreign keys unless asked, and locks instead of waiting without a timeout.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def _register_blueprints(app: Flask) -> None:
    register_request_hooks(app)
    for name in BLUEPRINTS:
        module = import_module(name)
        prefix = None if name in UNVERSIONED else app.config["PUBLIC_BASE_PATH"]
        app.register_blueprint(module.bp, url_prefix=prefix)
    app.extensions["bookstore_paths"] = {rule.rule for rule in app.url_map.iter_rules()}


def _register_errors(app: Flask) -> None:
    register_error_handlers(app)


def _register_security_headers(app: Flask) -> None:
    headers.init_app(app)


def _register_cli(app: Flask) -> None:
    register_cli(app)
