"""Access-token verification against tokens forged by hand (no PyJWT on the signing side)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bookstore.auth.tokens import decode_token
from bookstore.exceptions import Unauthorized
from tests.conftest import SECRET
from tests.helpers import pem_pair
from tests.sessions import assert_error, me, refresh, signup


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def segments(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())


def hs(claims: dict[str, Any], key: bytes | str = SECRET, alg: str = "HS256", **header) -> str:
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    key = key.encode() if isinstance(key, str) else key
    signing_input = segments({"alg": alg, "typ": "JWT", **header}, claims)
    return signing_input + "." + b64(hmac.new(key, signing_input.encode(), digest).digest())


def rs(claims: dict[str, Any], private_key: rsa.RSAPrivateKey) -> str:
    signing_input = segments({"alg": "RS256", "typ": "JWT"}, claims)
    signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64(signature)


def claims_for(user_id: int, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "role": "customer",
        "jti": "f" * 32,
        "iat": now,
        "exp": now + 900,
        "iss": "bookstore",
        "aud": "bookstore-api",
        "type": "access",
        "sid": "s" * 32,
        "ver": 0,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture
def user_id(make) -> int:
    return make.user().id


def test_a_hand_made_token_with_the_right_key_is_accepted(client, user_id):
    # The control for every forgery below: same builder, right key, right claims.
    assert me(client, hs(claims_for(user_id))).status_code == 200


@pytest.mark.parametrize(
    ("description", "build"),
    [
        ("alg none", lambda c: segments({"alg": "none", "typ": "JWT"}, c) + "."),
        ("alg None, signed", lambda c: segments({"alg": "None"}, c) + "." + b64(b"sig")),
        ("wrong key", lambda c: hs(c, key="another-secret-key-of-enough-length-0123456789")),
        ("HS512, right key", lambda c: hs(c, alg="HS512")),
        ("HS384, right key", lambda c: hs(c, alg="HS384")),
        ("empty key", lambda c: hs(c, key=b"")),
        (
            "JWK-looking secret",
            lambda c: hs(c, key=json.dumps({"kty": "oct", "k": b64(SECRET.encode())})),
        ),
        (
            "attacker key embedded as jwk header",
            lambda c: hs(c, key=b"attacker-key", jwk={"kty": "oct", "k": b64(b"attacker-key")}),
        ),
        ("tampered payload", lambda c: _tamper(hs(c), role="admin")),
        ("signature stripped", lambda c: hs(c).rsplit(".", 1)[0] + "."),
        ("not a JWT", lambda c: "not-a-token"),
        ("wrong audience", lambda c: hs({**c, "aud": "another-api"})),
        ("audience list without ours", lambda c: hs({**c, "aud": ["x", "y"]})),
        ("wrong issuer", lambda c: hs({**c, "iss": "evil"})),
        ("refresh token as access", lambda c: hs({**c, "type": "refresh"})),
        ("unknown type", lambda c: hs({**c, "type": "id"})),
        ("non-numeric subject", lambda c: hs({**c, "sub": "1 OR 1=1"})),
        ("integer subject", lambda c: hs({**c, "sub": int(c["sub"])})),
        ("boolean version", lambda c: hs({**c, "ver": True})),
        ("issued in the future", lambda c: hs({**c, "iat": c["iat"] + 3600})),
    ],
)
def test_forged_access_tokens_are_invalid(client, user_id, description, build):
    response = me(client, build(claims_for(user_id)))
    error = assert_error(response, 401, "INVALID_TOKEN")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert error["message"]


def _tamper(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return ".".join([header, b64(json.dumps({**claims, **changes}).encode()), signature])


@pytest.mark.parametrize(
    "claim", ["sub", "role", "jti", "iat", "exp", "iss", "aud", "type", "sid", "ver"]
)
def test_every_claim_is_required(client, user_id, claim):
    token = hs(claims_for(user_id, **{claim: None}))
    assert_error(me(client, token), 401, "INVALID_TOKEN")


def test_an_expired_token_is_token_expired(client, user_id):
    past = int(time.time()) - 3600
    token = hs(claims_for(user_id, iat=past - 900, exp=past))
    response = me(client, token)
    assert_error(response, 401, "TOKEN_EXPIRED")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_access_token_used_as_refresh_token_is_invalid(client):
    tokens = signup(client)
    assert_error(refresh(client, tokens["access_token"]), 401, "INVALID_TOKEN")
    assert_error(me(client, tokens["refresh_token"]), 401, "INVALID_TOKEN")


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc", "bearer"]
)
def test_a_malformed_authorization_header_is_invalid(client, header):
    assert_error(
        client.get("/v1/users/me", headers={"Authorization": header}), 401, "INVALID_TOKEN"
    )


def test_no_token_is_authentication_required(client):
    response = client.get("/v1/users/me")
    assert_error(response, 401, "AUTHENTICATION_REQUIRED")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="bookstore"'


def test_a_token_for_another_user_is_not_a_token_for_this_one(client, make):
    # sub is signed: swapping it breaks the signature.
    first, second = make.user(), make.user()
    token = _tamper(hs(claims_for(first.id)), sub=str(second.id))
    assert_error(me(client, token), 401, "INVALID_TOKEN")


# -- RS256 -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def rs_app(make_app, rsa_key, monkeypatch, tmp_path):
    private, public = pem_pair(rsa_key)
    # The private key from a file path, the public key inline: both forms work.
    key_file = tmp_path / "jwt.pem"
    key_file.write_text(private)
    monkeypatch.setenv("JWT_ALGORITHM", "RS256")
    monkeypatch.setenv("JWT_PRIVATE_KEY", str(key_file))
    monkeypatch.setenv("JWT_PUBLIC_KEY", public)
    return make_app()


def test_rs256_issues_and_accepts_its_own_tokens(rs_app):
    client = rs_app.test_client()
    tokens = signup(client)
    header = json.loads(base64.urlsafe_b64decode(tokens["access_token"].split(".")[0] + "=="))
    assert header["alg"] == "RS256"
    assert me(client, tokens["access_token"]).status_code == 200
    assert refresh(client, tokens["refresh_token"]).status_code == 200


def test_rs256_accepts_a_token_signed_with_the_private_key(rs_app, rsa_key, user_id):
    assert me(rs_app.test_client(), rs(claims_for(user_id), rsa_key)).status_code == 200


@pytest.mark.parametrize("secret_form", ["pem", "jwk", "app secret"])
def test_rs256_refuses_hs256_tokens_signed_with_the_public_key(
    rs_app, rsa_key, user_id, secret_form
):
    """The classic algorithm-confusion attack: the public key used as an HMAC secret."""
    public_pem = pem_pair(rsa_key)[1]
    numbers = rsa_key.public_key().public_numbers()
    jwk = json.dumps(
        {
            "kty": "RSA",
            "n": b64(numbers.n.to_bytes(256, "big")),
            "e": b64(numbers.e.to_bytes(3, "big")),
        }
    )
    key = {"pem": public_pem, "jwk": jwk, "app secret": SECRET}[secret_form]
    response = me(rs_app.test_client(), hs(claims_for(user_id), key=key))
    assert_error(response, 401, "INVALID_TOKEN")


def test_rs256_refuses_a_token_signed_by_another_key_pair(rs_app, user_id):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_error(me(rs_app.test_client(), rs(claims_for(user_id), stranger)), 401, "INVALID_TOKEN")


def test_hs256_app_refuses_rs256_tokens(client, rsa_key, user_id):
    assert_error(me(client, rs(claims_for(user_id), rsa_key)), 401, "INVALID_TOKEN")


def test_decode_checks_the_expected_type(app_ctx, user_id):
    token = hs(claims_for(user_id, type="refresh"))
    assert decode_token(token, "refresh")["sub"] == str(user_id)
    with pytest.raises(Unauthorized) as caught:
        decode_token(token, "access")
    assert caught.value.code == "INVALID_TOKEN"


def test_a_verified_token_is_refused_once_it_expires(client, user_id, monkeypatch):
    from bookstore.auth import tokens

    now = int(time.time())
    token = hs(claims_for(user_id, iat=now, exp=now + 30))
    assert me(client, token).status_code == 200
    assert token in client.application.extensions["bookstore_verified_tokens"]
    monkeypatch.setattr(tokens.time, "time", lambda: now + 30)  # exp is the first invalid second
    assert_error(me(client, token), 401, "TOKEN_EXPIRED")


def test_tokens_that_fail_verification_are_not_kept(client, user_id):
    forged = hs(claims_for(user_id), key="not-the-secret-key-0123456789abcdef-xyz")
    for _ in range(2):
        assert_error(me(client, forged), 401, "INVALID_TOKEN")
    assert forged not in client.application.extensions.get("bookstore_verified_tokens", {})


def test_a_token_verified_by_one_app_is_checked_again_by_an_app_with_other_keys(client, user_id):
    from bookstore import create_app

    token = hs(claims_for(user_id))
    assert me(client, token).status_code == 200
    other = create_app({"SECRET_KEY": "another-secret-key-0123456789abcdef-123456"})
    assert_error(me(other.test_client(), token), 401, "INVALID_TOKEN")


def test_the_verified_tokens_are_bounded(client, user_id, monkeypatch):
    from bookstore.auth import tokens

    monkeypatch.setattr(tokens, "VERIFIED_MAX", 3)
    client.application.extensions.pop("bookstore_verified_tokens", None)
    for n in range(7):
        assert me(client, hs(claims_for(user_id, jti=f"{n:032d}"))).status_code == 200
        assert len(client.application.extensions["bookstore_verified_tokens"]) <= 3
