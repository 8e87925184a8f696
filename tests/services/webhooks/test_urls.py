"""Receiver URL rules: syntax, and which addresses count as public."""

from __future__ import annotations

import ipaddress

import pytest

from bookstore.services.webhooks.urls import UnsafeURL, check_url, is_metadata, is_public, parse


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 - an address under test, not a bind
        ("240.0.0.1", False),
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:10.0.0.1", False),
        ("2002:7f00:1::", False),  # 6to4 wrapping 127.0.0.1
        ("64:ff9b::7f00:1", False),  # NAT64 wrapping 127.0.0.1
    ],
)
def test_is_public(address, public):
    assert is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    ("address", "metadata"),
    [
        ("169.254.169.254", True),
        ("169.254.0.1", True),
        ("fe80::1", True),
        ("febf::1", True),
        ("fd00:ec2::254", True),
        ("100.100.100.200", True),
        ("::ffff:169.254.169.254", True),
        ("::ffff:100.100.100.200", True),
        ("64:ff9b::a9fe:a9fe", True),
        ("2002:a9fe:a9fe::", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("fd00:ec2::253", False),
        ("100.100.100.201", False),
        ("93.184.216.34", False),
    ],
)
def test_is_metadata(address, metadata):
    assert is_metadata(ipaddress.ip_address(address)) is metadata


def test_allowing_private_receivers_admits_loopback_but_never_metadata():
    assert check_url("http://127.0.0.1:8000/", require_https=False, allow_private=True)
    with pytest.raises(UnsafeURL) as caught:
        check_url("http://[::ffff:a9fe:a9fe]/", require_https=False, allow_private=True)
    assert caught.value.code == "DISALLOWED_ADDRESS"


def test_parse_keeps_path_query_and_explicit_port():
    assert parse("https://Example.COM:8443/a/b?x=1", require_https=True) == (
        "https",
        "example.com",
        8443,
        "/a/b?x=1",
        "example.com:8443",
    )
    assert parse("http://[2606:2800::1]/", require_https=False)[1:] == (
        "2606:2800::1",
        80,
        "/",
        "[2606:2800::1]",
    )
    assert parse("https://bücher.example/x", require_https=True)[1] == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://93.184.216.34/", "HTTPS_REQUIRED"),
        ("https://93.184.216.34/a b", "INVALID_FORMAT"),
        ("https://93.184.216.34/\x00", "INVALID_FORMAT"),
        ("https:///path", "INVALID_FORMAT"),
        ("//93.184.216.34/", "INVALID_FORMAT"),
        ("https://10.0.0.1/", "DISALLOWED_ADDRESS"),
    ],
)
def test_check_url_refusals(url, code):
    with pytest.raises(UnsafeURL) as caught:
        check_url(url, require_https=True, allow_private=False)
    assert caught.value.code == code


def test_check_url_returns_the_checked_addresses():
    target = check_url("https://93.184.216.34/x", require_https=True, allow_private=False)
    assert target.addresses == ("93.184.216.34",) and target.host_header == "93.184.216.34"
