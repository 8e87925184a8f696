"""API7:2023 Server Side Request Forgery: webhook receivers on loopback or metadata hosts.

The only URL the server ever fetches is a webhook receiver's. Here the attacker is an
admin (or a stolen admin token) aiming it at the host itself or the cloud metadata
service, in every notation the resolver accepts and through URL-parser confusion. Also
proven elsewhere: the plain private ranges (tests/api/test_webhooks.py), the address
rules one by one (tests/services/webhooks/test_urls.py), the check repeated at delivery
time against DNS rebinding and redirects never followed
(tests/services/webhooks/test_worker.py).

Link-local and metadata addresses are refused even with ``WEBHOOK_ALLOW_PRIVATE`` (local
development, where loopback receivers are fine), when subscribing and when delivering.
"""

from __future__ import annotations

import pytest

from bookstore.extensions import db
from bookstore.services import outbox
from tests.ordering import execute, scalar
from tests.sessions import assert_error
from tests.webhook_support import deliver_due, subscribe

REFUSED = {"DISALLOWED_ADDRESS", "INVALID_FORMAT", "UNRESOLVABLE_HOST"}
ATTACKS = [
    # loopback, in the notations inet_aton and getaddrinfo accept
    "http://0x7f000001/hook",
    "http://0177.0.0.1/hook",
    "http://127.1/hook",
    "http://127.0.0.1.:8000/hook",
    "http://localhost./hook",
    "http://LocalHost:5432/",
    "http://[0:0:0:0:0:ffff:7f00:1]/hook",
    "http://[::]/hook",
    # cloud metadata services
    "http://169.254.169.254/latest/api/token",
    "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",
    "http://100.100.100.200/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    # parser confusion: the host a naive check sees is not the one connected to
    "http://example.com@127.0.0.1/hook",
    "http://127.0.0.1\\@example.com/hook",
    "http://127.0.0.1:80#@example.com/hook",
    "http://[fe80::1%25eth0]/hook",
    # other schemes
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "dict://127.0.0.1:6379/info",
    "ftp://127.0.0.1/",
    # an IPv6 prefix a NAT64 gateway translates to the IPv4 address it ends in
    "http://[64:ff9b::7f00:1]/hook",
]
# Never allowed, not even with WEBHOOK_ALLOW_PRIVATE.
METADATA = [
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",
    "http://[fe80::1]/hook",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
    "http://[::ffff:100.100.100.200]/latest/meta-data/",
    "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
    "http://[2002:a9fe:a9fe::1]/latest/meta-data/",
    "http://0xa9fea9fe/latest/meta-data/",
    "http://2852039166/latest/meta-data/",
]


@pytest.fixture
def private_allowed(app, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)


@pytest.mark.parametrize("url", ATTACKS)
def test_a_new_subscription_cannot_target_internal_hosts(client, admin, url):
    body = {"url": url, "event_types": ["book.created"]}
    error = assert_error(
        client.post("/v1/webhooks", json=body, headers=admin.headers), 400, "VALIDATION_ERROR"
    )
    assert error["details"][0]["field"] == "url" and error["details"][0]["code"] in REFUSED
    assert scalar("SELECT count(*) FROM webhook_subscriptions") == 0


@pytest.mark.parametrize("url", ATTACKS[:10])
def test_an_existing_subscription_cannot_be_pointed_inside(client, admin, url):
    created = client.post(
        "/v1/webhooks",
        json={"url": "https://93.184.216.34/hook", "event_types": ["book.created"]},
        headers=admin.headers,
    )
    webhook = created.get_json()["data"]
    patched = client.patch(
        f"/v1/webhooks/{webhook['id']}", json={"url": url}, headers=admin.headers
    )
    assert_error(patched, 400, "VALIDATION_ERROR")
    assert scalar("SELECT url FROM webhook_subscriptions") == "https://93.184.216.34/hook"


@pytest.mark.parametrize("url", METADATA)
def test_metadata_addresses_are_refused_even_when_private_ones_are_allowed(
    client, admin, private_allowed, url
):
    loopback = {"url": "http://127.0.0.1:9/hook", "event_types": ["book.created"]}
    assert client.post("/v1/webhooks", json=loopback, headers=admin.headers).status_code == 201

    body = {"url": url, "event_types": ["book.created"]}
    error = assert_error(
        client.post("/v1/webhooks", json=body, headers=admin.headers), 400, "VALIDATION_ERROR"
    )

    assert error["details"][0]["field"] == "url"
    assert error["details"][0]["code"] == "DISALLOWED_ADDRESS"
    assert scalar("SELECT count(*) FROM webhook_subscriptions") == 1


@pytest.mark.parametrize("url", METADATA[:1] + METADATA[3:8])
def test_a_receiver_that_now_points_at_metadata_is_never_sent_to(
    app, client, admin, private_allowed, url
):
    # The stored URL changing stands in for its host's DNS answer changing after the check.
    webhook_id, _ = subscribe(client, admin.headers, "http://127.0.0.1:9/hook")
    execute("UPDATE webhook_subscriptions SET url = :url WHERE id = :id", url=url, id=webhook_id)
    with app.app_context():
        outbox.emit("book.created", {"id": 1})
        db.session.commit()

    assert deliver_due(app) == {"failed": 1}
    error = scalar("SELECT last_error FROM webhook_deliveries")
    assert error.startswith("UnsafeURL") and "metadata" in error
    assert (
        scalar("SELECT count(*) FROM webhook_delivery_attempts WHERE status_code IS NOT NULL") == 0
    )
