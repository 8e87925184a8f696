"""API10:2023 Unsafe Consumption of APIs: what webhook receivers answer is not trusted.

The API consumes one third-party API: the receivers it delivers webhooks to. Their
answers are data, bounded and inert: a huge body keeps a 1 KB excerpt, markup in it is
served back as a JSON string under a policy that runs nothing, and a redirect, even to
the metadata service, is never followed. Also proven elsewhere: a stalled receiver times
out and is retried, ``Retry-After`` is capped, 410 deactivates
(tests/services/webhooks/test_worker.py, test_queue.py).
"""

from __future__ import annotations

import pytest

from bookstore.web.headers import JSON_CSP
from tests.webhook_support import Reply, deliver_due, subscribe

pytestmark = pytest.mark.usefixtures("fast_webhooks")


@pytest.fixture
def hook(client, admin, receiver) -> int:
    webhook_id, secret = subscribe(client, admin.headers, receiver.url, ["book.created"])
    receiver.secret = secret
    return webhook_id


def attempts(client, admin, hook: int) -> list[dict]:
    [delivery] = client.get(f"/v1/webhooks/{hook}/deliveries", headers=admin.headers).get_json()[
        "data"
    ]
    detail = client.get(f"/v1/webhooks/{hook}/deliveries/{delivery['id']}", headers=admin.headers)
    assert detail.headers["Content-Security-Policy"] == JSON_CSP
    assert detail.headers["X-Content-Type-Options"] == "nosniff"
    return detail.get_json()["data"]["attempts"]


def ping(client, admin, hook: int) -> None:
    assert client.post(f"/v1/webhooks/{hook}/ping", headers=admin.headers).status_code == 202


def test_a_huge_hostile_answer_is_kept_as_a_short_inert_excerpt(app, client, admin, receiver, hook):
    hostile = b"<script>fetch('/v1/users')</script>" + b"A" * (5 * 1024 * 1024)
    receiver.reply(Reply(200, body=hostile, headers={"Content-Type": "text/html"}))
    ping(client, admin, hook)
    assert deliver_due(app) == {"delivered": 1}
    [attempt] = attempts(client, admin, hook)
    assert len(attempt["response_body"]) == 1024
    assert attempt["response_body"].startswith("<script>")  # a JSON string, never markup


@pytest.mark.parametrize(
    "location",
    ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:5432/", "/elsewhere"],
)
def test_a_redirect_is_never_followed(app, client, admin, receiver, hook, location):
    receiver.reply(Reply(302, headers={"Location": location}))
    ping(client, admin, hook)
    assert deliver_due(app) == {"failed": 1}
    assert len(receiver.received) == 1
    [attempt] = attempts(client, admin, hook)
    assert attempt["status_code"] == 302
