"""Password hashing, login timing and the password policy."""

from __future__ import annotations

import time

import bcrypt
import pytest
from marshmallow import ValidationError

from bookstore.auth import passwords
from bookstore.extensions import db
from bookstore.models import User
from tests.sessions import PASSWORD, login, register

TIMING_ROUNDS = 11  # ~0.1 s per bcrypt check here: dwarfs everything else a login does


def _cpu_cost(action, times: int = 3) -> float:
    """The least CPU time of this thread ``action`` took: other processes do not count."""
    best = float("inf")
    for _ in range(times):
        started = time.thread_time()
        action()
        best = min(best, time.thread_time() - started)
    return best


def test_login_runs_bcrypt_whether_or_not_the_account_exists(make_app, make):
    """Measured in CPU time of the test's thread (the test client runs the request in it),
    which other processes' load does not inflate the way it inflates wall-clock time.

    Without the dummy hash an unknown email costs about a millisecond, far under the
    bound, so this fails if the missing-account path ever skips bcrypt.
    """
    slow = make_app(BCRYPT_ROUNDS=TIMING_ROUNDS)
    client = slow.test_client()
    register(client, "reader@example.com")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(TIMING_ROUNDS))
    make.user(email="gone@example.com", password_hash=hashed.decode(), active=False)

    def attempt(email: str):
        def run() -> None:
            body = {"email": email, "password": "not the password"}
            assert client.post("/v1/auth/login", json=body).status_code == 401

        return run

    attempt("nobody@example.com")()  # computes the per-app dummy hash once
    one_bcrypt = _cpu_cost(lambda: bcrypt.checkpw(b"not the password", hashed))
    missing = _cpu_cost(attempt("nobody@example.com"))
    wrong = _cpu_cost(attempt("reader@example.com"))
    inactive = _cpu_cost(attempt("gone@example.com"))
    for elapsed in (missing, wrong, inactive):
        assert elapsed >= 0.7 * one_bcrypt, (elapsed, one_bcrypt)
    assert 0.5 < missing / wrong < 2


def test_the_dummy_hash_uses_the_configured_cost(make_app):
    slow = make_app(BCRYPT_ROUNDS=5)
    with slow.test_request_context():
        assert not passwords.verify_password("anything at all", None)
        assert slow.extensions["bookstore_dummy_hash"][1].startswith(b"$2b$05$")


def test_login_upgrades_a_hash_made_at_another_cost(make_app, make):
    user = make.user(email="old@example.com", password=PASSWORD)  # cost 4
    assert user.password_hash.startswith("$2b$04$")
    client = make_app(BCRYPT_ROUNDS=5).test_client()
    login(client, "old@example.com")
    db.session.expire_all()
    upgraded = db.session.get(User, user.id).password_hash
    assert upgraded.startswith("$2b$05$")
    assert bcrypt.checkpw(PASSWORD.encode(), upgraded.encode())
    login(client, "old@example.com")


def test_a_password_over_72_bytes_never_matches_and_never_raises(app_ctx):
    hashed = bcrypt.hashpw(b"x" * 72, bcrypt.gensalt(4)).decode()
    # bcrypt would ignore byte 73 onwards; we refuse instead of truncating silently.
    assert not passwords.verify_password("x" * 73, hashed)
    assert passwords.verify_password("x" * 72, hashed)


def test_the_bundled_list_is_large_lowercase_and_only_reachable_entries():
    entries = passwords.common_passwords()
    assert len(entries) > 3000
    assert all(len(entry) >= passwords.MIN_LENGTH for entry in entries)
    assert all(entry == entry.casefold() for entry in entries)
    assert {"password1234", "qwertyuiop123", "iloveyou1234"} <= entries


@pytest.mark.parametrize(
    "password",
    ["PASSWORD1234", "Qwertyuiop123", " password1234 ", "pass word 1234", "1234567890123"],
)
def test_policy_sees_through_case_spaces_and_sequences(password):
    with pytest.raises(ValidationError) as caught:
        passwords.check_policy(password)
    assert caught.value.messages[0].code == "COMMON_PASSWORD"


@pytest.mark.parametrize(
    "password",
    ["velvet thunder orchard", "12 angry men, 1957", "ЖёлтыйКитНаЛуне", "0192837465ab"],
)
def test_policy_accepts_uncommon_passwords(password):
    passwords.check_policy(password, "someone@example.com")
