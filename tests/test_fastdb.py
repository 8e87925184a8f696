"""The lean read path survives connections the database dropped (a restart, a kill)."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from bookstore.cache import invalidate
from tests.conftest import DATABASE_URL


def _kill_app_connections() -> int:
    engine = create_engine(DATABASE_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'bookstore' AND datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        ).scalar()
    engine.dispose()
    return killed


def test_read_recovers_after_backends_are_killed(client, make):
    book = make.book()
    assert client.get(f"/v1/books/{book.id}").status_code == 200
    assert _kill_app_connections() >= 1
    invalidate()  # drop cached responses: the reads below must reach the database
    resp = client.get(f"/v1/books/{book.id}")
    assert resp.status_code == 200 and resp.get_json()["data"]["id"] == book.id
    assert client.get("/v1/books").status_code == 200  # the ORM path recovers too


def test_read_connection_runs_each_statement_outside_a_transaction(app_ctx):
    import time

    from bookstore.fastdb import read_connection

    # In autocommit every statement is its own transaction: its now() is its own start.
    # Inside one transaction, now() stays at the first statement's time.
    with read_connection() as conn:
        conn.execute(text("SELECT 1"))
        time.sleep(0.01)
        own_start = conn.execute(text("SELECT now() = statement_timestamp()")).scalar()
    assert own_start is True


def test_read_paths_hand_connections_back_in_the_drivers_default_state(client, make):
    # psycopg2 sends SET default_transaction_isolation ... at every later autocommit switch
    # of a connection whose isolation level was ever set explicitly (SQLAlchemy's AUTOCOMMIT
    # option does that, and resets it explicitly): a round trip per switch, two per read.
    from bookstore.extensions import db

    book = make.book()
    assert client.get("/v1/books?per_page=5").status_code == 200  # read_connection
    assert client.get(f"/v1/books/{book.id}").status_code == 200  # FastSelect
    pooled = db.engine.raw_connection()
    try:
        driver = pooled.dbapi_connection
        assert driver.isolation_level is None and driver.autocommit is False
    finally:
        pooled.close()
