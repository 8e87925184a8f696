"""A request whose session connection the database closed still gets its own answer."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bookstore.db.session_end import remove_session
from bookstore.extensions import db
from tests.db.backends import Backends


@pytest.fixture
def app_of_its_own(make_app):
    app = make_app()
    with app.app_context():
        app.backends = Backends(db.engine)
    return app


def test_ending_a_session_whose_connection_died_raises_nothing(app_of_its_own):
    with app_of_its_own.app_context():
        db.session.execute(text("SELECT 1"))  # a transaction left open, as a view leaves it
        app_of_its_own.backends.kill()
        with pytest.raises(OperationalError):  # what the extension's own teardown meets
            db.session.remove()
        db.session().invalidate()
        db.session.remove()

        db.session.execute(text("SELECT 1"))
        app_of_its_own.backends.kill()
        remove_session()
        assert db.engine.pool.checkedout() == 0
        assert db.session.execute(text("SELECT 1")).scalar() == 1  # a fresh connection


def test_a_response_is_sent_when_the_database_closes_the_connection_before_teardown(
    app_of_its_own,
):
    # The database goes away after the view answered and before the session is removed.
    app_of_its_own.after_request(lambda response: app_of_its_own.backends.kill() or response)
    response = app_of_its_own.test_client().get("/health/ready")
    assert response.status_code == 200
    with app_of_its_own.app_context():
        assert db.session.execute(text("SELECT 1")).scalar() == 1
