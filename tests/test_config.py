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
