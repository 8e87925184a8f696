"""One HTTP attempt: POST the event to the checked address, never following redirects."""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from dataclasses import dataclass

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError

from bookstore.services.webhooks.urls import Target

USER_AGENT = "Bookstore-Webhooks/1.0"
EXCERPT_BYTES = 1024
ERROR_CHARS = 500
# Addresses tried when connecting fails: covers a dead IPv6 route next to a working IPv4
# one. The lease must cover this many connects plus the read (bookstore/config/settings.py).
MAX_ADDRESSES = 2


@dataclass(frozen=True)
class Outcome:
    """What one attempt produced; ``permanent`` errors are not retried."""

    status_code: int | None = None
    error: str | None = None
    response_body: str | None = None
    duration_ms: int = 0
    retry_after: float | None = None
    permanent: bool = False


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _pool(target: Target, address: str, timeout: urllib3.Timeout) -> urllib3.HTTPConnectionPool:
    # Connect to an address that passed the SSRF check; Host, SNI and the certificate
    # check still use the URL's host name.
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address,
            target.port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    return urllib3.HTTPConnectionPool(
        address, target.port, timeout=timeout, retries=False, maxsize=1
    )


def send(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    *,
    connect_timeout: float,
    read_timeout: float,
) -> Outcome:
    """POST once. If the connection cannot be made, the next checked address is tried
    (at most ``MAX_ADDRESSES``, e.g. an unreachable IPv6 one, then IPv4)."""
    timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
    started = time.monotonic()
    outcome = Outcome(error="ConnectionError: no address to connect to")
    for address in target.addresses[:MAX_ADDRESSES]:
        pool = _pool(target, address, timeout)
        try:
            outcome = _post(pool, target, body, headers, started)
        except ConnectTimeoutError as exc:  # NewConnectionError too: nothing was sent
            outcome = Outcome(error=describe(exc), duration_ms=_elapsed(started))
            continue
        finally:
            pool.close()
        return outcome
    return outcome


def _post(
    pool: urllib3.HTTPConnectionPool,
    target: Target,
    body: bytes,
    headers: dict[str, str],
    started: float,
) -> Outcome:
    try:
        response = pool.urlopen(
            "POST",
            target.request_path,
            body=body,
            headers={**headers, "Host": target.host_header, "User-Agent": USER_AGENT},
            redirect=False,
            retries=False,
            assert_same_host=False,
            preload_content=False,
        )
    except ConnectTimeoutError:
        raise
    except (HTTPError, OSError) as exc:
        return Outcome(error=describe(exc), duration_ms=_elapsed(started))
    try:
        # Only an excerpt is kept; a receiver that stalls its body does not matter once
        # the status line has arrived.
        excerpt = response.read(EXCERPT_BYTES).decode("utf-8", "replace")
    except (HTTPError, OSError):
        excerpt = None
    finally:
        response.release_conn()
    return Outcome(
        status_code=response.status,
        response_body=excerpt,
        duration_ms=_elapsed(started),
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
    )


def _elapsed(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
