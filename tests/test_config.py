"""Configuration refuses to run with unsafe settings."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bookstore.config import DEV_SECRET, ConfigError, load_config

# A key as the documented command makes it (fixed here so that runs are alike).
GOOD_SECRET = "q7Vd2LxR9mK4tWz8bN1cHf6gJp3sYa0uEo5iTr-_Zk"


def production(**env: str) -> dict:
    return load_config({"APP_ENV": "production", **env})


@pytest.mark.parametrize(
    "secret",
    [None, "", "   ", "short", "x" * 31, DEV_SECRET],
    ids=["missing", "empty", "blank", "short", "31 chars", "the development default"],
)
def test_production_refuses_a_missing_short_or_default_secret(secret):
    env = {} if secret is None else {"SECRET_KEY": secret}
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        production(**env)


COMPOSE_PLACEHOLDER = "placeholder-change-me-before-any-real-use-0123456789"


@pytest.mark.parametrize(
    "secret",
    [
        COMPOSE_PLACEHOLDER,
        "changeme-changeme-changeme-changeme-1234",
        "Change-Me-to-a-long-random-string-of-chars",
        "your-secret-key-goes-here-0123456789abcdef",
        "SECRET",
        "example-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "x" * 40,
        "abababababababababababababababab0123",
        "Zq8" + "Zq8" * 12,
    ],
    ids=[
        "compose placeholder",
        "changeme",
        "change-me any case",
        "secret",
        "the word",
        "example",
        "one character",
        "few distinct",
        "three distinct",
    ],
)
def test_production_refuses_placeholder_and_low_entropy_secrets(secret):
    with pytest.raises(ConfigError) as caught:
        production(SECRET_KEY=secret)
    message = str(caught.value)
    assert message.startswith("SECRET_KEY ") and "\n" not in message
    assert "secrets.token_urlsafe(48)" in message


def test_the_placeholders_still_run_outside_production():
    assert load_config({"APP_ENV": "testing", "SECRET_KEY": COMPOSE_PLACEHOLDER})["SECRET_KEY"]


def test_a_generated_secret_is_accepted_in_production():
    for _ in range(20):
        secret = secrets.token_urlsafe(48)
        assert production(SECRET_KEY=secret)["SECRET_KEY"] == secret


def test_docker_compose_requires_the_secret_for_every_service():
    compose = yaml.safe_load((Path(__file__).parent.parent / "docker-compose.yml").read_text())
    keyed = {
        name: service["environment"]["SECRET_KEY"]
        for name, service in compose["services"].items()
        if "SECRET_KEY" in service.get("environment", {})
    }
    assert {"api", "worker"} <= set(keyed)
    for name, value in keyed.items():
        assert value.startswith("${SECRET_KEY:?") and value.endswith("}"), name
        assert "placeholder" not in value and "change-me" not in value, name


def test_session_max_age_defaults_to_30_days_and_is_validated():
    assert production(SECRET_KEY=GOOD_SECRET)["JWT_SESSION_MAX_AGE"] == 2592000
    assert (
        production(SECRET_KEY=GOOD_SECRET, JWT_SESSION_MAX_AGE="3600")["JWT_SESSION_MAX_AGE"]
        == 3600
    )
    for bad, reason in (("a month", "must be an integer"), ("60", "must be at least 300")):
        with pytest.raises(ConfigError, match=f"^JWT_SESSION_MAX_AGE {reason}"):
            production(SECRET_KEY=GOOD_SECRET, JWT_SESSION_MAX_AGE=bad)


def test_production_starts_with_a_real_secret():
    config = production(SECRET_KEY=GOOD_SECRET)
    assert config["SECRET_KEY"] == GOOD_SECRET
    assert config["BCRYPT_ROUNDS"] == 12
    assert config["JWT_ALGORITHM"] == "HS256"
    assert config["JWT_ACCESS_TTL"] == 900


def test_development_falls_back_to_the_dev_secret():
    assert load_config({"APP_ENV": "development"})["SECRET_KEY"] == DEV_SECRET


@pytest.mark.parametrize(
    "secret",
    [
        '{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}',
        "-----BEGIN PUBLIC KEY-----\nAAAA" + "A" * 40 + "\n-----END PUBLIC KEY-----",
    ],
    ids=["JWK", "PEM"],
)
def test_a_key_shaped_secret_is_refused_for_hs256(secret):
    with pytest.raises(ConfigError, match="HS256"):
        load_config({"APP_ENV": "testing", "SECRET_KEY": secret})


@pytest.mark.parametrize(
    ("env", "rounds"),
    [({}, 12), ({"BCRYPT_ROUNDS": "13"}, 13)],
)
def test_bcrypt_rounds(env, rounds):
    assert production(SECRET_KEY=GOOD_SECRET, **env)["BCRYPT_ROUNDS"] == rounds


@pytest.mark.parametrize(
    ("app_env", "rounds"),
    [("production", "8"), ("production", "17"), ("testing", "3"), ("testing", "abc")],
)
def test_bcrypt_rounds_out_of_range_are_refused(app_env, rounds):
    with pytest.raises(ConfigError, match="BCRYPT_ROUNDS"):
        load_config({"APP_ENV": app_env, "SECRET_KEY": GOOD_SECRET, "BCRYPT_ROUNDS": rounds})


def _pem_pair(key) -> tuple[str, str]:
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture(scope="module")
def rsa_pem() -> tuple[str, str]:
    return _pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def test_rs256_from_inline_pem_with_escaped_newlines(rsa_pem):
    private, public = rsa_pem
    config = production(
        SECRET_KEY=GOOD_SECRET,
        JWT_ALGORITHM="rs256",
        JWT_PRIVATE_KEY=private.replace("\n", "\\n"),
        JWT_PUBLIC_KEY=public,
    )
    assert config["JWT_ALGORITHM"] == "RS256"
    assert config["JWT_PUBLIC_KEY"] == public


def test_rs256_derives_the_public_key_and_reads_files(rsa_pem, tmp_path):
    private, public = rsa_pem
    path = tmp_path / "private.pem"
    path.write_text(private)
    config = production(SECRET_KEY=GOOD_SECRET, JWT_ALGORITHM="RS256", JWT_PRIVATE_KEY=str(path))
    assert config["JWT_PUBLIC_KEY"] == public


def test_rs256_configuration_errors(rsa_pem, tmp_path):
    private, public = rsa_pem
    other_public = _pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))[1]
    # Deliberately weak: the configuration must refuse it.
    small = _pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=1024))[0]  # noqa: S505
    ec_key = _pem_pair(ec.generate_private_key(ec.SECP256R1()))[0]
    cases = [
        ({}, "needs JWT_PRIVATE_KEY"),
        ({"JWT_PRIVATE_KEY": str(tmp_path / "missing.pem")}, "cannot read"),
        (
            {"JWT_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----"},
            "not an unencrypted PEM",
        ),
        ({"JWT_PRIVATE_KEY": small}, "at least 2048"),
        ({"JWT_PRIVATE_KEY": ec_key}, "RSA key"),
        ({"JWT_PRIVATE_KEY": private, "JWT_PUBLIC_KEY": other_public}, "does not match"),
        (
            {
                "JWT_PRIVATE_KEY": private,
                "JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----",
            },
            "not a PEM public key",
        ),
    ]
    for env, message in cases:
        with pytest.raises(ConfigError, match=message):
            production(SECRET_KEY=GOOD_SECRET, JWT_ALGORITHM="RS256", **env)


def test_unknown_algorithm_is_refused():
    with pytest.raises(ConfigError, match="JWT_ALGORITHM"):
        production(SECRET_KEY=GOOD_SECRET, JWT_ALGORITHM="none")


def test_development_defaults_are_embedded():
    cfg = load_config({"APP_ENV": "development"})
    assert cfg["SECRET_KEY"] == DEV_SECRET and cfg["REDIS_URL"] is None


@pytest.mark.parametrize(
    ("name", "value"),
    [("MAX_CONTENT_LENGTH", "big"), ("GUNICORN_THREADS", "0"), ("APP_ENV", "staging")],
)
def test_bad_values_are_refused(name, value):
    with pytest.raises(ConfigError):
        load_config({"APP_ENV": "development", name: value})


def test_postgres_scheme_normalised_and_pool_sized_to_threads():
    cfg = load_config(
        {"APP_ENV": "development", "DATABASE_URL": "postgres://u@h/db", "GUNICORN_THREADS": "6"}
    )
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "postgresql://u@h/db"
    assert cfg["SQLALCHEMY_ENGINE_OPTIONS"]["pool_size"] == 7


def test_database_pool_settings_come_from_the_environment():
    env = {
        "APP_ENV": "development",
        "DATABASE_URL": "postgresql://u@h/db",
        "DB_POOL_SIZE": "9",
        "DB_MAX_OVERFLOW": "0",
        "DB_POOL_TIMEOUT": "2",
        "DB_POOL_RECYCLE": "600",
        "DB_POOL_PRE_PING": "true",
    }
    options = load_config(env)["SQLALCHEMY_ENGINE_OPTIONS"]
    assert {k: options[k] for k in ("pool_size", "max_overflow", "pool_timeout")} == {
        "pool_size": 9,
        "max_overflow": 0,
        "pool_timeout": 2,
    }
    assert options["pool_recycle"] == 600 and options["pool_pre_ping"] is True
    assert "poolclass" not in options  # SQLAlchemy's own QueuePool
    for name, value in (("DB_POOL_PRE_PING", "maybe"), ("DB_POOL_SIZE", "0")):
        with pytest.raises(ConfigError, match=name):
            load_config({**env, name: value})


def test_webhook_settings_and_their_safety_rules():
    dev = load_config({"APP_ENV": "development"})
    assert dev["WEBHOOK_ALLOW_PRIVATE"] is False and dev["WEBHOOK_REQUIRE_HTTPS"] is False
    assert (dev["WEBHOOK_MAX_ATTEMPTS"], dev["WEBHOOK_BACKOFF_BASE"]) == (8, 10.0)
    assert dev["LOW_STOCK_THRESHOLD"] == 5
    prod = load_config({"APP_ENV": "production", "SECRET_KEY": GOOD_SECRET})
    assert prod["WEBHOOK_REQUIRE_HTTPS"] is True
    custom = load_config(
        {"APP_ENV": "development", "WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_BACKOFF_BASE": "0.5"}
    )
    assert custom["WEBHOOK_ALLOW_PRIVATE"] is True and custom["WEBHOOK_BACKOFF_BASE"] == 0.5


@pytest.mark.parametrize(
    "env",
    [
        {"WEBHOOK_LEASE_SECONDS": "15"},  # not longer than 2 x connect (3) + read (10)
        {"WEBHOOK_READ_TIMEOUT": "nan"},
        {"WEBHOOK_BACKOFF_BASE": "-1"},
        {"WEBHOOK_MAX_ATTEMPTS": "0"},
        {"WEBHOOK_ALLOW_PRIVATE": "maybe"},
    ],
)
def test_bad_webhook_settings_are_refused(env):
    with pytest.raises(ConfigError):
        load_config({"APP_ENV": "development", **env})


def test_order_settings():
    dev = load_config({"APP_ENV": "development"})
    assert (dev["ORDER_PAYMENT_TTL"], dev["ORDER_MAX_PENDING"]) == (1800, 5)
    assert dev["ORDER_EXPIRY_INTERVAL"] == 10.0
    custom = load_config(
        {"APP_ENV": "development", "ORDER_PAYMENT_TTL": "60", "ORDER_MAX_PENDING": "1"}
    )
    assert (custom["ORDER_PAYMENT_TTL"], custom["ORDER_MAX_PENDING"]) == (60, 1)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ORDER_PAYMENT_TTL": "0"}, "ORDER_PAYMENT_TTL must be at least 1, got 0"),
        ({"ORDER_PAYMENT_TTL": "30m"}, "ORDER_PAYMENT_TTL must be an integer, got '30m'"),
        ({"ORDER_MAX_PENDING": "0"}, "ORDER_MAX_PENDING must be at least 1, got 0"),
        ({"ORDER_EXPIRY_INTERVAL": "never"}, "ORDER_EXPIRY_INTERVAL must be a number"),
    ],
)
def test_bad_order_settings_are_refused_in_one_line(env, message):
    with pytest.raises(ConfigError) as caught:
        load_config({"APP_ENV": "development", **env})
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_the_list_stock_bound_is_a_whole_second_at_least():
    assert load_config({"APP_ENV": "development"})["CACHE_LIST_STOCK_MAX_AGE"] == 5
    custom = load_config({"APP_ENV": "development", "CACHE_LIST_STOCK_MAX_AGE": "1"})
    assert custom["CACHE_LIST_STOCK_MAX_AGE"] == 1
    for raw, message in (("0", "at least 1, got 0"), ("5s", "an integer, got '5s'")):
        with pytest.raises(ConfigError) as caught:
            load_config({"APP_ENV": "development", "CACHE_LIST_STOCK_MAX_AGE": raw})
        assert str(caught.value) == f"CACHE_LIST_STOCK_MAX_AGE must be {message}"
