"""Terminating the database connections of one engine (and no other test's)."""

from __future__ import annotations

import time

from sqlalchemy import Engine, create_engine, event, text

from tests.conftest import DATABASE_URL


class Backends:
    """The server processes of one engine's connections, to terminate them."""

    def __init__(self, engine: Engine) -> None:
        self.pids: set[int] = set()
        engine.dispose()  # every connection from now on is recorded
        event.listen(engine, "connect", self._record)

    def _record(self, dbapi_connection, record) -> None:
        self.pids.add(dbapi_connection.get_backend_pid())

    def kill(self) -> None:
        """Terminate them and wait until they are gone."""
        assert self.pids, "the engine opened no connection"
        engine = create_engine(DATABASE_URL, isolation_level="AUTOCOMMIT")
        alive = text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)")
        with engine.connect() as conn:
            pids = {"pids": sorted(self.pids)}
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM unnest(:pids) pid"), pids)
            deadline = time.monotonic() + 10
            while conn.execute(alive, pids).scalar():
                assert time.monotonic() < deadline, "backends still there"
                time.sleep(0.02)
        engine.dispose()
