"""Configuration comes from the environment, and production refuses unsafe defaults."""

from __future__ import annotations

import pytest

from bookstore.config import DEV_SECRET, ConfigError, load_config


def test_production_requires_a_real_secret():
    with pytest.raises(ConfigError):
        load_config({"APP_ENV": "production"})
    with pytest.raises(ConfigError):
        load_config({"APP_ENV": "production", "SECRET_KEY": DEV_SECRET})
    with pytest.raises(ConfigError):
        load_config({"APP_ENV": "production", "SECRET_KEY": "short"})
    cfg = load_config({"APP_ENV": "production", "SECRET_KEY": "x" * 40})
    assert cfg["CORS_ORIGINS"] == [] and cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


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


def test_webhook_settings_and_their_safety_rules():
    dev = load_config({"APP_ENV": "development"})
    assert dev["WEBHOOK_ALLOW_PRIVATE"] is False and dev["WEBHOOK_REQUIRE_HTTPS"] is False
    assert (dev["WEBHOOK_MAX_ATTEMPTS"], dev["WEBHOOK_BACKOFF_BASE"]) == (8, 10.0)
    assert dev["LOW_STOCK_THRESHOLD"] == 5
    prod = load_config({"APP_ENV": "production", "SECRET_KEY": "x" * 40})
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
