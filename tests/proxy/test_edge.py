"""What nginx itself does in front of the instances: TLS, HTTP/2, headers, limits."""

from __future__ import annotations

import gzip
import socket
import ssl
import subprocess
import warnings

import pytest
import requests

from bookstore.config import load_config
from deploy import nginx as nginx_conf
from tests.proxy.conftest import Cluster

pytestmark = pytest.mark.e2e


def test_tls_12_and_13_with_http2_are_offered_and_tls_11_is_refused(cluster: Cluster):
    port = cluster.proxy.https_port
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        context = cluster.proxy.tls_context()
        context.minimum_version = context.maximum_version = version
        context.set_alpn_protocols(["h2", "http/1.1"])
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() == version.name.replace("_", ".")
            assert tls.selected_alpn_protocol() == "h2"
            if version is ssl.TLSVersion.TLSv1_2:
                assert tls.cipher()[0].startswith("ECDHE-")
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.set_ciphers("ALL:@SECLEVEL=0")  # the client offers TLS 1.1; the server must refuse
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL"),
    ):
        old.wrap_socket(raw, server_hostname="127.0.0.1")


def test_curl_gets_an_http2_answer_through_the_proxy(cluster: Cluster):
    out = subprocess.run(
        ["curl", "--http2", "--cacert", str(cluster.proxy.cert), "-sS", "-o", "/dev/null",
         "-w", "%{http_version} %{response_code}", cluster.proxy.url + "/health/ready"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert out.stdout == "2 200"


def test_plain_http_redirects_to_https_keeping_the_path(cluster: Cluster):
    response = requests.get(
        f"http://127.0.0.1:{cluster.proxy.http_port}/v1/books?page=2",
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 308
    assert response.headers["Location"] == f"{cluster.proxy.url}/v1/books?page=2"


@pytest.mark.parametrize(
    "path", ["/metrics", "/metrics?format=x", "//metrics", "/%6detrics", "/v1/../metrics"]
)
def test_metrics_are_not_served_through_the_proxy(cluster: Cluster, path: str):
    reply = cluster.call("GET", path)
    assert reply.status == 404
    error = reply.json()["error"]
    assert error["code"] == "RESOURCE_NOT_FOUND"
    assert error["request_id"] == reply.headers["X-Request-ID"]
    # Each instance still serves them to whoever can reach it directly (the scraper).
    for instance in cluster.instances:
        assert requests.get(instance.url + "/metrics", timeout=10).status_code == 200


def test_the_request_id_is_the_same_in_the_response_and_both_logs(cluster: Cluster):
    sent = cluster.call("GET", "/v1", headers={"X-Request-ID": "edge-test-0001"})
    made = cluster.call("GET", "/v1")
    forged = cluster.call("GET", "/v1", headers={"X-Request-ID": "bad id with spaces"})
    assert sent.headers["X-Request-ID"] == "edge-test-0001"
    generated = made.headers["X-Request-ID"]
    assert len(generated) == 32 and int(generated, 16) >= 0  # nginx's $request_id
    replaced = forged.headers["X-Request-ID"]
    assert replaced != "bad id with spaces" and len(replaced) == 32
    for rid in ("edge-test-0001", generated, replaced):
        assert cluster.proxy_log_line(rid)["status"] == 200
        assert cluster.app_log_line(rid)["remote_addr"] == "127.0.0.1"


def test_json_is_gzipped_for_clients_that_accept_it(cluster: Cluster, make):
    for n in range(30):
        make.book(title=f"Compressible title number {n}")
    reply = cluster.call("GET", "/v1/books?per_page=30", headers={"Accept-Encoding": "gzip"})
    assert reply.status == 200
    assert reply.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in reply.headers["Vary"]
    assert len(gzip.decompress(reply.body)) > len(reply.body)
    assert "Content-Encoding" not in cluster.call("GET", "/v1/books?per_page=30").headers


def test_a_body_over_the_apps_limit_is_refused_by_nginx_with_the_envelope(cluster: Cluster):
    limit = load_config({"APP_ENV": "testing"})["MAX_CONTENT_LENGTH"]
    assert nginx_conf.settings(
        ["x:1"], runtime_dir=None, log_dir=None, cert=None, key=None, env={}
    )["NGINX_CLIENT_MAX_BODY_SIZE"] == str(limit)
    reply = cluster.call("POST", "/v1/auth/login", body={"email": "x" * limit})
    assert reply.status == 413
    assert reply.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    # No instance saw it.
    assert cluster.proxy_log_line(reply.headers["X-Request-ID"])["upstream"] == ""


def test_large_bodies_and_answers_pass_whole_in_both_directions(cluster: Cluster):
    # Over nginx's memory buffers: nothing may depend on its temporary files.
    document = cluster.call("GET", "/openapi.json")
    direct = requests.get(cluster.instances[0].url + "/openapi.json", timeout=10)
    assert document.status == 200 and document.body == direct.content
    big = cluster.call(
        "POST", "/v1/auth/login", body={"email": "a@example.com", "x": "y" * 500_000}
    )
    assert big.status in {400, 401}, big.body  # the app's answer, not nginx's


def test_nginx_errors_of_its_own_use_the_error_envelope(cluster: Cluster):
    with socket.create_connection(("127.0.0.1", cluster.proxy.https_port)) as raw:
        context = cluster.proxy.tls_context()
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"GET /v1 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431")
    assert b'"code":"REQUEST_HEADERS_TOO_LARGE"' in body
