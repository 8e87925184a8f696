"""Receiver URLs: syntax, HTTPS in production, and SSRF protection.

A receiver URL may not point inside our network: every address its host resolves to
must be public, or the URL is refused. ``WEBHOOK_ALLOW_PRIVATE`` (local development)
admits loopback and private receivers, but never link-local or cloud metadata addresses,
in any notation (IPv4-mapped, 6to4, Teredo, NAT64 included). The check runs
when a subscription is saved and again before every attempt, and the attempt connects to
the address that passed the check, so a DNS answer that changes in between (rebinding)
cannot redirect a delivery to an internal service.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Refused even with WEBHOOK_ALLOW_PRIVATE: cloud metadata and credential services live here
# (AWS, GCP, Azure, ECS at 169.254.x; AWS over IPv6; Alibaba Cloud).
METADATA_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32")
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeURL(ValueError):
    """A receiver URL the server refuses; ``code`` goes into the error details."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Target:
    """Where an attempt connects: the checked address, with the URL's host for HTTP/TLS."""

    scheme: str
    host: str
    port: int
    request_path: str
    host_header: str
    addresses: tuple[str, ...]


def parse(url: str, *, require_https: bool) -> tuple[str, str, int, str, str]:
    """Split and check the URL's syntax: (scheme, ascii host, port, path?query, Host)."""
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        raise UnsafeURL("INVALID_FORMAT", "Must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeURL("INVALID_FORMAT", "Not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL("INVALID_FORMAT", "Must be an absolute http or https URL.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("INVALID_FORMAT", "Must not contain credentials.")
    if parts.fragment or url.endswith("#"):
        raise UnsafeURL("INVALID_FORMAT", "Must not contain a fragment.")
    if require_https and scheme != "https":
        raise UnsafeURL("HTTPS_REQUIRED", "Must use https.")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise UnsafeURL("INVALID_FORMAT", "The host name is not valid.") from None
    port = port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        host_header += f":{port}"
    return scheme, host, port, path, host_header


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo client, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)


def is_metadata(ip: IPAddress) -> bool:
    """Link-local or a cloud metadata address, directly or embedded in an IPv6 address."""
    embedded = embedded_ipv4(ip)
    if embedded is not None and is_metadata(embedded):
        return True
    return ip.is_link_local or any(ip in net for net in METADATA_NETWORKS)


def is_public(ip: IPAddress) -> bool:
    """True for addresses a webhook may reach: globally routable unicast only."""
    embedded = embedded_ipv4(ip)
    if embedded is not None and not is_public(embedded):
        return False
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
    )


def resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise UnsafeURL("UNRESOLVABLE_HOST", f"The host {host!r} does not resolve.") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise UnsafeURL("UNRESOLVABLE_HOST", f"The host {host!r} does not resolve.")
    return tuple(addresses)


def check_url(url: str, *, require_https: bool, allow_private: bool) -> Target:
    """Validate ``url`` and resolve its host; refuse if ANY address is not public.

    ``allow_private`` admits loopback and private addresses, never metadata or link-local.
    """
    scheme, host, port, path, host_header = parse(url, require_https=require_https)
    addresses = resolve(host, port)
    allowed = (lambda ip: not is_metadata(ip)) if allow_private else is_public
    refused = [str(ip) for ip in addresses if not allowed(ip)]
    if refused:
        raise UnsafeURL(
            "DISALLOWED_ADDRESS",
            f"Resolves to a loopback, private, link-local, metadata or reserved address "
            f"({', '.join(refused)}); receivers must be publicly reachable.",
        )
    return Target(scheme, host, port, path, host_header, tuple(str(ip) for ip in addresses))
