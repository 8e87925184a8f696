"""Configuration, read from environment variables only (12-factor).

Every setting has a safe default. ``APP_ENV=production`` (the default) refuses to start
with a missing or well-known secret; ``make run`` sets ``APP_ENV=development``.

A ``.env`` file (found from the working directory up, as the flask CLI finds it) fills in
variables the environment does not set, for every entry point; the real environment wins.
``FLASK_SKIP_DOTENV=1`` skips it, as it does for the flask CLI.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dotenv import find_dotenv, load_dotenv

DEV_SECRET = "dev-secret-do-not-use-in-production-0123456789"  # noqa: S105
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_URL = f"sqlite:///{PROJECT_ROOT / 'instance' / 'bookstore.db'}"


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
    if _bool(dict(os.environ), "FLASK_SKIP_DOTENV", False):
        return
    path = find_dotenv(".env", usecwd=True)
    if path:
        load_dotenv(path, override=False)


def _str(env: dict[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def _int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
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


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be a boolean (true/false), got {raw!r}")


def _float(env: dict[str, str], name: str, default: float, minimum: float = 0.0) -> float:
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


def _list(env: dict[str, str], name: str, default: list[str]) -> list[str]:
    raw = env.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


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
    app_env = _str(env, "APP_ENV", "production").lower()
    if app_env not in {"production", "development", "testing"}:
        raise ConfigError("APP_ENV must be production, development or testing")
    production = app_env == "production"

    secret = env.get("SECRET_KEY", "").strip()
    if production:
        _check_production_secret(secret)
    secret = secret or DEV_SECRET

    rounds = _int(env, "BCRYPT_ROUNDS", 12, minimum=4)
    if rounds > 16 or (production and rounds < 10):
        raise ConfigError("BCRYPT_ROUNDS must be between 10 and 16 in production (4-16 otherwise)")

    database_url = normalise_database_url(_str(env, "DATABASE_URL", DEFAULT_SQLITE_URL))
    redis_url = env.get("REDIS_URL", "").strip() or None
    threads = _int(env, "GUNICORN_THREADS", 4, minimum=1)

    # A ping per checkout costs a round trip; without it, a connection the database
    # dropped fails one statement (a read is retried, a write answers 503) and SQLAlchemy
    # then replaces every pooled connection older than it.
    engine_options: dict[str, Any] = {"pool_pre_ping": _bool(env, "DB_POOL_PRE_PING", False)}
    # Sessions and reads each have a pool of these options (bookstore.db.reads): a worker
    # opens at most 2 x (DB_POOL_SIZE + DB_MAX_OVERFLOW) connections, fewer when idle.
    if database_url.startswith("postgresql"):
        engine_options.update(
            pool_size=_int(env, "DB_POOL_SIZE", threads + 1, minimum=1),
            max_overflow=_int(env, "DB_MAX_OVERFLOW", 2),
            pool_timeout=_int(env, "DB_POOL_TIMEOUT", 5, minimum=1),
            pool_recycle=_int(env, "DB_POOL_RECYCLE", 1800),
            connect_args={
                "connect_timeout": _int(env, "DB_CONNECT_TIMEOUT", 3, minimum=1),
                "application_name": "bookstore",
                "options": f"-c statement_timeout={_int(env, 'DB_STATEMENT_TIMEOUT_MS', 15000)}",
            },
        )

    return {
        **_webhook_config(env, production),
        # Flask turns debugging on from FLASK_DEBUG; never in production, whatever is set.
        **({"DEBUG": False} if production else {}),
        "APP_ENV": app_env,
        "TESTING": app_env == "testing",
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "REDIS_URL": redis_url,
        "REDIS_TIMEOUT_MS": _int(env, "REDIS_TIMEOUT_MS", 500, minimum=1),
        "BCRYPT_ROUNDS": rounds,
        **_jwt_config(env, secret),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 1024 * 1024, minimum=1024),
        "CORS_ORIGINS": _list(
            env,
            "CORS_ORIGINS",
            [] if production else ["http://localhost:5173", "http://127.0.0.1:5173"],
        ),
        "CORS_MAX_AGE": _int(env, "CORS_MAX_AGE", 600),
        # Strict-Transport-Security max-age; 0 (the default) sends none. Set it only where
        # the API is served over TLS (behind a TLS-terminating proxy, say 31536000).
        "HSTS_SECONDS": _int(env, "HSTS_SECONDS", 0),
        "CATALOG_MAX_AGE": _int(env, "CATALOG_MAX_AGE", 60),
        # Offset pages count matches exactly up to this many, then estimate (counting.py).
        "PAGINATION_COUNT_LIMIT": _int(env, "PAGINATION_COUNT_LIMIT", 1000),
        "LOG_LEVEL": _str(env, "LOG_LEVEL", "INFO").upper(),
        "PUBLIC_BASE_PATH": "/v1",
        # Where clients reach the API (the OpenAPI document's server); relative when unset.
        "PUBLIC_URL": _str(env, "PUBLIC_URL", "").rstrip("/"),
        # GET /metrics (Prometheus) on each instance; the proxy never serves it.
        "METRICS_ENABLED": _bool(env, "METRICS_ENABLED", True),
        # How long a stored Idempotency-Key outcome is replayed (the contract says 24 hours).
        "IDEMPOTENCY_TTL_SECONDS": _int(env, "IDEMPOTENCY_TTL_SECONDS", 86400, minimum=1),
        **_rate_limits_and_cache(env),
        **_performance_switches(env),
    }


def _performance_switches(env: dict[str, str]) -> dict[str, bool]:
    """Optimisations that have to earn their place: ``false`` serves the plain way instead.

    Each answers the same either way (ETag values aside, for the hash); the benchmark
    turns one off at a time to measure it (bench/RESULTS.md).
    """
    return {
        "PERF_ORJSON_ENVELOPE": _bool(env, "PERF_ORJSON_ENVELOPE", True),
        "PERF_XXH3_ETAG": _bool(env, "PERF_XXH3_ETAG", True),
        "PERF_QUERY_LOADERS": _bool(env, "PERF_QUERY_LOADERS", True),
        "PERF_GC_FREEZE": _bool(env, "PERF_GC_FREEZE", True),
    }


# -- tokens ----------------------------------------------------------------------------

# Words of documented and sample secrets: a key containing one was written by a person.
PLACEHOLDER_WORDS = ("change-me", "change_me", "changeme", "placeholder", "secret", "example")
SECRET_MIN_LENGTH = 32
SECRET_MIN_DISTINCT = 10
GENERATE_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'  # noqa: S105


def _check_production_secret(secret: str) -> None:
    """Refuse a missing, placeholder or low-entropy SECRET_KEY: it signs every token."""
    lowered = secret.lower()
    if not secret:
        problem = "must be set"
    elif any(word in lowered for word in PLACEHOLDER_WORDS):
        problem = "is a placeholder"
    elif len(secret) < SECRET_MIN_LENGTH or len(set(secret)) < SECRET_MIN_DISTINCT:
        problem = f"is too weak (needs {SECRET_MIN_LENGTH}+ random characters)"
    else:
        return
    raise ConfigError(
        f"SECRET_KEY {problem} when APP_ENV=production; generate one with: {GENERATE_SECRET}"
    )


def _jwt_config(env: dict[str, str], secret: str) -> dict[str, Any]:
    """JWT settings: HS256 with SECRET_KEY, or RS256 with a PEM key pair (text or file)."""
    algorithm = _str(env, "JWT_ALGORITHM", "HS256").upper()
    private_pem = public_pem = None
    if algorithm == "HS256":
        try:
            # PyJWT refuses secrets that look like PEM, SSH or JWK keys; fail at start-up
            # rather than on the first login.
            jwt.algorithms.HMACAlgorithm(jwt.algorithms.HMACAlgorithm.SHA256).prepare_key(secret)
        except jwt.InvalidKeyError as exc:
            raise ConfigError(f"SECRET_KEY cannot be used as an HS256 secret: {exc}") from None
    elif algorithm == "RS256":
        private_pem, public_pem = _rsa_pair(env)
    else:
        raise ConfigError("JWT_ALGORITHM must be HS256 or RS256")
    return {
        "JWT_ALGORITHM": algorithm,
        "JWT_PRIVATE_KEY": private_pem,
        "JWT_PUBLIC_KEY": public_pem,
        "JWT_ISSUER": _str(env, "JWT_ISSUER", "bookstore"),
        "JWT_AUDIENCE": _str(env, "JWT_AUDIENCE", "bookstore-api"),
        "JWT_ACCESS_TTL": _int(env, "JWT_ACCESS_TTL", 900, minimum=60),
        "JWT_REFRESH_TTL": _int(env, "JWT_REFRESH_TTL", 14 * 24 * 3600, minimum=300),
        # Absolute session lifetime: refreshing never extends a login past this.
        "JWT_SESSION_MAX_AGE": _int(env, "JWT_SESSION_MAX_AGE", 30 * 24 * 3600, minimum=300),
    }


def _pem(env: dict[str, str], name: str) -> bytes | None:
    """A PEM given inline (``\\n`` escapes allowed) or as a path to a file holding it."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if raw.startswith("-----BEGIN"):
        return raw.replace("\\n", "\n").encode()
    try:
        return Path(raw).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read the key file {raw!r}: {exc.strerror}") from None


def _rsa_pair(env: dict[str, str]) -> tuple[str, str]:
    private_raw = _pem(env, "JWT_PRIVATE_KEY")
    if private_raw is None:
        raise ConfigError("JWT_ALGORITHM=RS256 needs JWT_PRIVATE_KEY (PEM text or a file path)")
    try:
        private_key = serialization.load_pem_private_key(private_raw, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"JWT_PRIVATE_KEY is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(private_key, rsa.RSAPrivateKey) or private_key.key_size < 2048:
        raise ConfigError("JWT_PRIVATE_KEY must be an RSA key of at least 2048 bits")
    derived = private_key.public_key()
    public_raw = _pem(env, "JWT_PUBLIC_KEY")
    if public_raw is not None:
        try:
            public_key = serialization.load_pem_public_key(public_raw)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"JWT_PUBLIC_KEY is not a PEM public key: {exc}") from None
        if (
            not isinstance(public_key, rsa.RSAPublicKey)
            or public_key.public_numbers() != derived.public_numbers()
        ):
            raise ConfigError("JWT_PUBLIC_KEY does not match JWT_PRIVATE_KEY")
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = derived.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem.decode(), public_pem.decode()


def _webhook_config(env: dict[str, str], production: bool) -> dict[str, Any]:
    connect = _float(env, "WEBHOOK_CONNECT_TIMEOUT", 3.0, minimum=0.1)
    read = _float(env, "WEBHOOK_READ_TIMEOUT", 10.0, minimum=0.1)
    lease = _float(env, "WEBHOOK_LEASE_SECONDS", 60.0, minimum=1.0)
    # A lease shorter than one attempt (up to two connects, then the read) would let a
    # second worker send the same delivery while the first still waits for the receiver.
    if lease <= 2 * connect + read:
        raise ConfigError(
            "WEBHOOK_LEASE_SECONDS must exceed 2 x WEBHOOK_CONNECT_TIMEOUT + WEBHOOK_READ_TIMEOUT"
        )
    return {
        "WEBHOOK_ALLOW_PRIVATE": _bool(env, "WEBHOOK_ALLOW_PRIVATE", False),
        "WEBHOOK_REQUIRE_HTTPS": production,
        "WEBHOOK_CONNECT_TIMEOUT": connect,
        "WEBHOOK_READ_TIMEOUT": read,
        "WEBHOOK_LEASE_SECONDS": lease,
        "WEBHOOK_MAX_ATTEMPTS": _int(env, "WEBHOOK_MAX_ATTEMPTS", 8, minimum=1),
        "WEBHOOK_BACKOFF_BASE": _float(env, "WEBHOOK_BACKOFF_BASE", 10.0),
        "WEBHOOK_BACKOFF_CAP": _float(env, "WEBHOOK_BACKOFF_CAP", 3600.0),
        "WEBHOOK_POLL_INTERVAL": _float(env, "WEBHOOK_POLL_INTERVAL", 1.0, minimum=0.01),
        "LOW_STOCK_THRESHOLD": _int(env, "LOW_STOCK_THRESHOLD", 5),
        # Orders: the payment window, the pending orders a customer may hold, and how
        # often `flask orders expire --loop` looks for orders past their window.
        "ORDER_PAYMENT_TTL": _int(env, "ORDER_PAYMENT_TTL", 1800, minimum=1),
        "ORDER_MAX_PENDING": _int(env, "ORDER_MAX_PENDING", 5, minimum=1),
        "ORDER_EXPIRY_INTERVAL": _float(env, "ORDER_EXPIRY_INTERVAL", 10.0, minimum=0.01),
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
    from limits import parse_many

    value = _str(env, name, default)
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
        "RATELIMIT_ENABLED": _bool(env, "RATELIMIT_ENABLED", True),
        "TRUSTED_PROXIES": _int(env, "TRUSTED_PROXIES", 0),
        "REDIS_RETRY_INTERVAL": _float(env, "REDIS_RETRY_INTERVAL", 2.0, minimum=0.05),
        "CACHE_ENABLED": _bool(env, "CACHE_ENABLED", True),
        "CACHE_TTL": _int(env, "CACHE_TTL", 120, minimum=1),
        "CACHE_MAX_ENTRIES": _int(env, "CACHE_MAX_ENTRIES", 256, minimum=1),
        "CACHE_MAX_ENTRY_BYTES": _int(env, "CACHE_MAX_ENTRY_BYTES", 256 * 1024, minimum=1024),
        "CACHE_LIST_STOCK_MAX_AGE": _int(env, "CACHE_LIST_STOCK_MAX_AGE", 5, minimum=1),
    }
