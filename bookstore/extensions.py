"""Extensions, created unbound here and bound to the app in ``create_app``."""

from __future__ import annotations

import threading

import redis
from flask import Flask, current_app
from flask_cors import CORS
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints make Alembic migrations deterministic on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
cors = CORS()


class RedisClient:
    """The shared Redis client: created lazily from ``REDIS_URL``, one per app.

    ``get()`` returns None when ``REDIS_URL`` is unset, so callers fall back to the database
    or the process. Short socket timeouts and a single immediate retry (to replace a pooled
    connection Redis closed) keep a Redis outage from stalling requests: callers catch
    ``redis.RedisError`` and degrade.
    """

    def init_app(self, app: Flask) -> None:
        app.extensions["redis_client"] = {"client": None, "lock": threading.Lock()}

    def get(self, app: Flask | None = None) -> redis.Redis | None:
        app = app or current_app._get_current_object()  # type: ignore[attr-defined]
        state = app.extensions["redis_client"]
        client = state["client"]
        if client is None and app.config.get("REDIS_URL"):
            with state["lock"]:
                if state["client"] is None:
                    timeout = app.config["REDIS_TIMEOUT_MS"] / 1000
                    state["client"] = redis.Redis.from_url(
                        app.config["REDIS_URL"],
                        socket_timeout=timeout,
                        socket_connect_timeout=timeout,
                        retry=Retry(NoBackoff(), 1),
                    )
                client = state["client"]
        return client


redis_client = RedisClient()
