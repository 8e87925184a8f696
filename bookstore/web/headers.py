"""Security headers on every response the app sends.

JSON cannot run script, but a browser may still sniff, frame or leak a URL: these headers
forbid all of it. ``/docs`` sets its own, looser Content-Security-Policy (Swagger UI runs
script), which is kept. HSTS is only sent when ``HSTS_SECONDS`` is set: it must come from
a deployment that is served over TLS, or it would lock browsers out of a plain-HTTP host.
With CORS origins configured, every response also varies on ``Origin`` (once). gunicorn's
own refusals carry the same set (bookstore.serving.workers).
"""

from __future__ import annotations

from flask import Flask, Response
from werkzeug.datastructures import Headers

from bookstore.web.requests import request_id
from bookstore.web.responses import add_headers

JSON_CSP = "default-src 'none'; frame-ancestors 'none'"


def security_headers(hsts_seconds: int) -> list[tuple[str, str]]:
    headers = [
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Content-Security-Policy", JSON_CSP),
    ]
    if hsts_seconds:
        headers.append(("Strict-Transport-Security", f"max-age={hsts_seconds}; includeSubDomains"))
    return headers


def init_app(app: Flask) -> None:
    headers = security_headers(app.config["HSTS_SECONDS"])
    names = frozenset(name.lower() for name, _ in headers)
    # CORS headers are sent only to an allowed Origin, so with CORS on every response
    # depends on Origin: without Vary, a shared cache could hand a catalog page cached
    # for one origin (or none) to another. flask-cors is told not to add a second one.
    vary_origin = bool(app.config["CORS_ORIGINS"])
    if vary_origin:
        names |= {"vary"}

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        existing = response.headers
        # One pass: only /docs sets one of these itself (a looser CSP), which is kept.
        for name, _ in existing:
            if name.lower() in names:
                _merge(existing, headers, vary_origin)
                return response
        add_headers(response, headers)
        if vary_origin:
            add_headers(response, _VARY_ORIGIN)
        return response


_VARY_ORIGIN = (("Vary", "Origin"),)


def _merge(existing: Headers, headers: list[tuple[str, str]], vary_origin: bool) -> None:
    present = {name.lower(): value for name, value in existing}
    existing.extend([(name, value) for name, value in headers if name.lower() not in present])
    if vary_origin:
        vary = present.get("vary")
        if not vary:
            existing.add("Vary", "Origin")
        elif "origin" not in vary.lower():
            existing["Vary"] = f"{vary}, Origin"


def register_request_hooks(app: Flask) -> None:
    @app.after_request
    def add_request_id(response: Response) -> Response:
        # Set nowhere else; a client's id is only echoed if it matched _REQUEST_ID_RE.
        add_headers(response, (("X-Request-ID", request_id()),))
        return response
