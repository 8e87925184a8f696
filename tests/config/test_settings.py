"""The settings groups: their defaults, values from the environment, bad values refused."""

from __future__ import annotations

import pytest

from bookstore.config import DEV_SECRET, ConfigError, load_config
from tests.config.environments import GOOD_SECRET, production


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
