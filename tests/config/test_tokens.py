"""SECRET_KEY and the JWT keys: production refuses unsafe secrets, RS256 a bad key pair."""

from __future__ import annotations

import secrets

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bookstore.config import DEV_SECRET, ConfigError, load_config
from tests.config.environments import GOOD_SECRET, production
from tests.conftest import ROOT
from tests.helpers import pem_pair


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
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
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


@pytest.fixture(scope="module")
def rsa_pem() -> tuple[str, str]:
    return pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))


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
    other_public = pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))[1]
    # Deliberately weak: the configuration must refuse it.
    small = pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=1024))[0]  # noqa: S505
    ec_key = pem_pair(ec.generate_private_key(ec.SECP256R1()))[0]
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
