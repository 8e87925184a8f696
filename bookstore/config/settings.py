"""The settings groups ``load_config`` builds from the environment into Flask's config.

Each group reads its variables with the ``parsing`` readers and checks the rules that
span several of them (a webhook lease longer than one attempt, say).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from limits import parse_many

from bookstore.config.parsing import (
    ConfigError,
    load_dotenv_file,
    read_bool,
    read_float,
    read_int,
    read_list,
    read_str,
)
from bookstore.config.tokens import jwt_config, secret_key

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SQLITE_URL = f"sqlite:///{PROJECT_ROOT / 'instance' / 'bookstore.db'}"


def normalise_database_url(url: str) -> str:
    # Heroku-style URLs say postgres://, which SQLAlchemy no longer accepts.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    return url


def load_config(env: dict[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from ``env`` (``os.environ`` and ``.env`` by default)."""
    if env is None:
        load_dotenv_file()
    env = dict(os.environ if env is None else env)
    app_env = read_str(env, "APP_ENV", "production").lower()
    if app_env not in {"production", "development", "testing"}:
        raise ConfigError("APP_ENV must be production, development or testing")
    production = app_env == "production"

    secret = secret_key(env, production)

    rounds = read_int(env, "BCRYPT_ROUNDS", 12, minimum=4)
    if rounds > 16 or (production and rounds < 10):
        raise ConfigError("BCRYPT_ROUNDS must be between 10 and 16 in production (4-16 otherwise)")

    database_url = normalise_database_url(read_str(env, "DATABASE_URL", DEFAULT_SQLITE_URL))
    redis_url = env.get("REDIS_URL", "").strip() or None

    return {
        **_webhook_config(env, production),
        # Flask turns debugging on from FLASK_DEBUG; never in production, whatever is set.
        **({"DEBUG": False} if production else {}),
        "APP_ENV": app_env,
        "TESTING": app_env == "testing",
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(env, database_url),
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "REDIS_URL": redis_url,
        "REDIS_TIMEOUT_MS": read_int(env, "REDIS_TIMEOUT_MS", 500, minimum=1),
        "BCRYPT_ROUNDS": rounds,
        **jwt_config(env, secret),
        "MAX_CONTENT_LENGTH": read_int(env, "MAX_CONTENT_LENGTH", 1024 * 1024, minimum=1024),
        "CORS_ORIGINS": read_list(
            env,
            "CORS_ORIGINS",
            [] if production else ["http://localhost:5173", "http://127.0.0.1:5173"],
        ),
        "CORS_MAX_AGE": read_int(env, "CORS_MAX_AGE", 600),
        # Strict-Transport-Security max-age; 0 (the default) sends none. Set it only where
        # the API is served over TLS (behind a TLS-terminating proxy, say 31536000).
        "HSTS_SECONDS": read_int(env, "HSTS_SECONDS", 0),
        "CATALOG_MAX_AGE": read_int(env, "CATALOG_MAX_AGE", 60),
        # Offset pages count matches exactly up to this many, then estimate (counting.py).
        "PAGINATION_COUNT_LIMIT": read_int(env, "PAGINATION_COUNT_LIMIT", 1000),
        "LOG_LEVEL": read_str(env, "LOG_LEVEL", "INFO").upper(),
        "PUBLIC_BASE_PATH": "/v1",
        # Where clients reach the API (the OpenAPI document's server); relative when unset.
        "PUBLIC_URL": read_str(env, "PUBLIC_URL", "").rstrip("/"),
        # GET /metrics (Prometheus) on each instance; the proxy never serves it.
        "METRICS_ENABLED": read_bool(env, "METRICS_ENABLED", True),
        # How long a stored Idempotency-Key outcome is replayed (the contract says 24 hours).
        "IDEMPOTENCY_TTL_SECONDS": read_int(env, "IDEMPOTENCY_TTL_SECONDS", 86400, minimum=1),
        **_rate_limits_and_cache(env),
    }


def _engine_options(env: dict[str, str], database_url: str) -> dict[str, Any]:
    """SQLAlchemy's pool and connection options; PostgreSQL's pool is sized to the threads."""
    threads = read_int(env, "GUNICORN_THREADS", 4, minimum=1)
    # A ping per checkout costs a round trip; without it, a connection the database
    # dropped fails one statement (a read is retried, a write answers 503) and SQLAlchemy
    # then replaces every pooled connection older than it.
    engine_options: dict[str, Any] = {"pool_pre_ping": read_bool(env, "DB_POOL_PRE_PING", False)}
    # Sessions and reads each have a pool of these options (bookstore.db.reads): a worker
    # opens at most 2 x (DB_POOL_SIZE + DB_MAX_OVERFLOW) connections, fewer when idle.
    if database_url.startswith("postgresql"):
        statement_timeout_ms = read_int(env, "DB_STATEMENT_TIMEOUT_MS", 15000)
        engine_options.update(
            pool_size=read_int(env, "DB_POOL_SIZE", threads + 1, minimum=1),
            max_overflow=read_int(env, "DB_MAX_OVERFLOW", 2),
            pool_timeout=read_int(env, "DB_POOL_TIMEOUT", 5, minimum=1),
            pool_recycle=read_int(env, "DB_POOL_RECYCLE", 1800),
            connect_args={
                "connect_timeout": read_int(env, "DB_CONNECT_TIMEOUT", 3, minimum=1),
                "application_name": "bookstore",
                "options": f"-c statement_timeout={statement_timeout_ms}",
            },
        )
    return engine_options


def _webhook_config(env: dict[str, str], production: bool) -> dict[str, Any]:
    connect = read_float(env, "WEBHOOK_CONNECT_TIMEOUT", 3.0, minimum=0.1)
    read = read_float(env, "WEBHOOK_READ_TIMEOUT", 10.0, minimum=0.1)
    lease = read_float(env, "WEBHOOK_LEASE_SECONDS", 60.0, minimum=1.0)
    # A lease shorter than one attempt (up to two connects, then the read) would let a
    # second worker send the same delivery while the first still waits for the receiver.
    if lease <= 2 * connect + read:
        raise ConfigError(
            "WEBHOOK_LEASE_SECONDS must exceed 2 x WEBHOOK_CONNECT_TIMEOUT + WEBHOOK_READ_TIMEOUT"
        )
    return {
        "WEBHOOK_ALLOW_PRIVATE": read_bool(env, "WEBHOOK_ALLOW_PRIVATE", False),
        "WEBHOOK_REQUIRE_HTTPS": production,
        "WEBHOOK_CONNECT_TIMEOUT": connect,
        "WEBHOOK_READ_TIMEOUT": read,
        "WEBHOOK_LEASE_SECONDS": lease,
        "WEBHOOK_MAX_ATTEMPTS": read_int(env, "WEBHOOK_MAX_ATTEMPTS", 8, minimum=1),
        "WEBHOOK_BACKOFF_BASE": read_float(env, "WEBHOOK_BACKOFF_BASE", 10.0),
        "WEBHOOK_BACKOFF_CAP": read_float(env, "WEBHOOK_BACKOFF_CAP", 3600.0),
        "WEBHOOK_POLL_INTERVAL": read_float(env, "WEBHOOK_POLL_INTERVAL", 1.0, minimum=0.01),
        "LOW_STOCK_THRESHOLD": read_int(env, "LOW_STOCK_THRESHOLD", 5),
        # Orders: the payment window, the pending orders a customer may hold, and how
        # often `flask orders expire --loop` looks for orders past their window.
        "ORDER_PAYMENT_TTL": read_int(env, "ORDER_PAYMENT_TTL", 1800, minimum=1),
        "ORDER_MAX_PENDING": read_int(env, "ORDER_MAX_PENDING", 5, minimum=1),
        "ORDER_EXPIRY_INTERVAL": read_float(env, "ORDER_EXPIRY_INTERVAL", 10.0, minimum=0.01),
    }


RATE_LIMITS = {
    "RATELIMIT_DEFAULT": "300/minute",
    "RATELIMIT_WRITE": "60/minute",
    "RATELIMIT_ADMIN": "3000/minute",
    "RATELIMIT_LOGIN_IP": "10/minute",
    "RATELIMIT_LOGIN_ACCOUNT": "5/minute",
}


def _rate_limit(env: dict[str, str], name: str, default: str) -> str:
    """One limit such as ``300/minute`` or ``20 per 10 seconds`` (one, so one round trip)."""
    value = read_str(env, name, default)
    try:
        items = parse_many(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a rate limit like '300/minute', got {value!r}") from exc
    if len(items) != 1 or items[0].amount < 1:
        raise ConfigError(f"{name} must be exactly one positive limit, got {value!r}")
    return value


def _rate_limits_and_cache(env: dict[str, str]) -> dict[str, Any]:
    limits = {name: _rate_limit(env, name, default) for name, default in RATE_LIMITS.items()}
    return {
        **limits,
        "RATELIMIT_ENABLED": read_bool(env, "RATELIMIT_ENABLED", True),
        "TRUSTED_PROXIES": read_int(env, "TRUSTED_PROXIES", 0),
        "REDIS_RETRY_INTERVAL": read_float(env, "REDIS_RETRY_INTERVAL", 2.0, minimum=0.05),
        "CACHE_ENABLED": read_bool(env, "CACHE_ENABLED", True),
        "CACHE_TTL": read_int(env, "CACHE_TTL", 120, minimum=1),
        "CACHE_MAX_ENTRIES": read_int(env, "CACHE_MAX_ENTRIES", 256, minimum=1),
        "CACHE_MAX_ENTRY_BYTES": read_int(env, "CACHE_MAX_ENTRY_BYTES", 256 * 1024, minimum=1024),
        "CACHE_LIST_STOCK_MAX_AGE": read_int(env, "CACHE_LIST_STOCK_MAX_AGE", 5, minimum=1),
    }
