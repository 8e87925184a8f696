"""Keys a later hook of this request will read, fetched by the rate limiter's script call.

Every counted request makes one round trip to Redis for its limit; a catalog read would
make a second, for the cache. The cache names the keys it will read (:func:`want`, from
a function registered with :func:`register`), the limiter's script returns their values
beside the window (:func:`deliver`), and the cache picks them up (:func:`take`), so a
cache hit costs one ``EVALSHA``. Neither knows the other: without a limiter, or while
the limiter counts in memory, nothing is delivered and the cache reads on its own.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Request, current_app

EXTENSION = "bookstore_readahead"
_DELIVERED = "bookstore.redis.readahead"  # environ: (keys, values) fetched for this request

KeysFor = Callable[[Request], list[str] | None]


def register(app: Flask, keys_for: KeysFor) -> None:
    """``keys_for(request)``: the keys this request will read, or None."""
    app.extensions[EXTENSION] = keys_for


def want(req: Request) -> list[str] | None:
    keys_for: KeysFor | None = current_app.extensions.get(EXTENSION)
    return None if keys_for is None else keys_for(req)


def deliver(req: Request, keys: list[str], values: list[bytes | None]) -> None:
    req.environ[_DELIVERED] = (keys, values)


def take(req: Request, keys: list[str]) -> list[bytes | None] | None:
    """The values fetched for exactly these keys in this request, once; else None."""
    delivered = req.environ.pop(_DELIVERED, None)
    if delivered is None or delivered[0] != keys:
        return None
    return delivered[1]
