"""Who the app thinks the caller is, behind nginx: the address it logs and rate-limits."""

from __future__ import annotations

import pytest
import requests

from tests.proxy.conftest import Cluster

pytestmark = pytest.mark.e2e


def _login(cluster: Cluster, source: str, n: int, headers: dict[str, str] | None = None):
    body = {"email": f"nobody{n}@example.com", "password": "not the password"}
    return cluster.call("POST", "/v1/auth/login", source=source, body=body, headers=headers)


def test_the_app_logs_the_callers_address_not_the_proxys_or_a_forged_one(cluster: Cluster):
    plain = cluster.call("GET", "/v1", source="127.0.0.21")
    forged = cluster.call(
        "GET", "/v1", source="127.0.0.22", headers={"X-Forwarded-For": "203.0.113.9"}
    )
    plain_id, forged_id = plain.headers["X-Request-ID"], forged.headers["X-Request-ID"]
    assert cluster.app_log_line(plain_id)["remote_addr"] == "127.0.0.21"
    assert cluster.app_log_line(forged_id)["remote_addr"] == "127.0.0.22"
    assert cluster.proxy_log_line(forged_id)["remote_addr"] == "127.0.0.22"


def test_the_login_limit_is_one_count_across_both_instances(cluster: Cluster):
    """RATELIMIT_LOGIN_IP=10/minute: the eleventh attempt is refused, wherever it lands."""
    replies = [_login(cluster, "127.0.0.31", n) for n in range(11)]
    assert [r.status for r in replies[:10]] == [401] * 10
    assert replies[10].status == 429
    assert replies[10].json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert int(replies[10].headers["Retry-After"]) >= 1
    # The ten counted attempts were spread over both instances, not kept on one.
    ids = [r.headers["X-Request-ID"] for r in replies[:10]]
    upstreams = {cluster.proxy_log_line(rid)["upstream"] for rid in ids}
    assert upstreams == {instance.address for instance in cluster.instances}


def test_a_forged_forwarded_for_cannot_choose_another_bucket(cluster: Cluster):
    for n in range(10):
        assert _login(cluster, "127.0.0.41", n).status == 401
    assert _login(cluster, "127.0.0.41", 10).status == 429
    # A caller naming the exhausted address is still counted as itself...
    pretending = {"X-Forwarded-For": "127.0.0.41"}
    assert _login(cluster, "127.0.0.42", 0, pretending).status == 401
    # ...and the exhausted caller cannot escape by naming another one.
    escaping = {"X-Forwarded-For": "127.0.0.99, 198.51.100.7"}
    assert _login(cluster, "127.0.0.41", 11, escaping).status == 429
    # Only nginx makes this safe: an instance reached directly believes the header.
    direct = requests.post(
        cluster.instances[0].url + "/v1/auth/login",
        json={"email": "nobody12@example.com", "password": "not the password"},
        headers=pretending,
        timeout=10,
    )
    assert direct.status_code == 429
