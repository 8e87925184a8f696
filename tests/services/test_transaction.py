"""One commit per state change (bookstore.services.transaction) under ``@idempotent``.

Views that fail after writing, through a real app and the real PostgreSQL: the write, the
key and the response commit together or not at all.
"""

from __future__ import annotations

import pytest
from flask import Blueprint
from sqlalchemy import func, select

from bookstore import create_app
from bookstore.exceptions import ServiceUnavailable
from bookstore.extensions import db
from bookstore.models import Author
from bookstore.services import transaction
from bookstore.services.idempotency import idempotent
from bookstore.web.responses import resource_response
from tests.conftest import IsolatedClient
from tests.ordering import assert_error, new_key, scalar


def _keys() -> int:
    return scalar("SELECT count(*) FROM idempotency_keys")


@pytest.fixture
def probe_app(app):
    """An app with extra idempotent views: one fails once after writing, one returns 503,
    one commits behind the decorator's back."""
    probe = create_app()
    probe.test_client_class = IsolatedClient
    bp = Blueprint("probe", __name__)
    failures = {"left": 1}

    @bp.post("/probe/flaky")
    @idempotent()
    def flaky():
        db.session.add(Author(name="Flaky"))
        transaction.commit()
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("the process failed after writing")
        return resource_response({"authors": _authors()}, status=201)

    @bp.post("/probe/unavailable")
    @idempotent()
    def unavailable():
        db.session.add(Author(name="Unavailable"))
        transaction.commit()
        raise ServiceUnavailable()

    @bp.post("/probe/stray")
    @idempotent()
    def stray():
        db.session.add(Author(name="Stray"))
        db.session.commit()
        return resource_response({}, status=201)

    probe.register_blueprint(bp)
    yield probe
    with probe.app_context():
        db.engine.dispose()


def _authors() -> int:
    return db.session.execute(select(func.count()).select_from(Author)).scalar_one()


def test_a_5xx_stores_nothing_and_rolls_the_work_back(probe_app):
    client = probe_app.test_client()
    key = new_key()
    failed = client.post("/probe/flaky", json={"n": 1}, headers={"Idempotency-Key": key})
    assert_error(failed, 500, "INTERNAL_ERROR")
    with probe_app.app_context():
        assert (scalar("SELECT count(*) FROM authors"), _keys()) == (0, 0)

        retried = client.post("/probe/flaky", json={"n": 1}, headers={"Idempotency-Key": key})
        assert retried.status_code == 201
        replayed = client.post("/probe/flaky", json={"n": 1}, headers={"Idempotency-Key": key})
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert replayed.get_data() == retried.get_data()
        assert scalar("SELECT count(*) FROM authors") == 1
        assert scalar("SELECT caller FROM idempotency_keys") == "ip:127.0.0.1"


def test_a_503_stores_nothing(probe_app):
    client = probe_app.test_client()
    response = client.post("/probe/unavailable", headers={"Idempotency-Key": new_key()})
    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    with probe_app.app_context():
        assert (scalar("SELECT count(*) FROM authors"), _keys()) == (0, 0)


def test_a_commit_behind_the_decorators_back_is_refused(probe_app):
    client = probe_app.test_client()
    response = client.post("/probe/stray", headers={"Idempotency-Key": new_key()})
    assert_error(response, 500, "INTERNAL_ERROR")
    with probe_app.app_context():
        assert (scalar("SELECT count(*) FROM authors"), _keys()) == (0, 0)
        # Without a key the same view is an ordinary one.
        assert client.post("/probe/stray").status_code == 201
