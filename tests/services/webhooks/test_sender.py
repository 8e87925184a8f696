"""One attempt over real sockets: the checked address is dialled, the name kept for HTTP/TLS."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bookstore.services.webhooks.sender import send
from bookstore.services.webhooks.urls import Target
from tests.conftest import free_port


def target(port: int, *addresses: str, scheme: str = "http") -> Target:
    return Target(scheme, "localhost", port, "/hook?x=1", f"localhost:{port}", addresses)


def test_falls_back_to_the_next_checked_address(receiver):
    port = int(receiver.url.split(":")[2].split("/")[0])
    outcome = send(target(port, "::1", "127.0.0.1"), b"{}", {}, connect_timeout=0.5, read_timeout=1)
    assert outcome.status_code == 200, outcome
    [request] = receiver.received
    assert request.path == "/hook?x=1" and request.headers["Host"] == f"localhost:{port}"


def test_unreachable_addresses_are_a_connection_error():
    outcome = send(target(free_port(), "127.0.0.1"), b"{}", {}, connect_timeout=0.5, read_timeout=1)
    assert outcome.status_code is None and outcome.error.startswith("NewConnectionError")
    assert not outcome.permanent


def _self_signed(tmp_path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def test_https_dials_the_address_but_verifies_the_name(tmp_path):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_self_signed(tmp_path))
    seen: list[str | None] = []
    context.sni_callback = lambda sock, server_name, ctx: seen.append(server_name)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_one() -> None:
        conn, _ = listener.accept()
        try:
            context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            pass  # the client refuses our self-signed certificate, as it must
        finally:
            conn.close()

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        outcome = send(
            target(port, "127.0.0.1", scheme="https"),
            b"{}",
            {},
            connect_timeout=1,
            read_timeout=1,
        )
    finally:
        thread.join(5)
        listener.close()
    assert seen == ["localhost"]  # SNI carries the name, not the dialled address
    assert outcome.status_code is None and "CERTIFICATE_VERIFY_FAILED" in outcome.error
