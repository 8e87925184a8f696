"""The API root, health checks and the OpenAPI document with its interactive UI."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, request, send_from_directory
from marshmallow import Schema, fields
from marshmallow.validate import OneOf
from sqlalchemy import text

from bookstore import openapi
from bookstore.extensions import db
from bookstore.schemas.common import sometimes
from bookstore.version import __version__
from bookstore.web.responses import JSON_TYPE, Response, dumps, resource_response

bp = Blueprint("root", __name__)
COLLECTIONS = ("authors", "books", "magazines", "orders", "users", "webhooks")


class RootSchema(Schema):
    name = fields.String(required=True)
    version = fields.String(required=True)
    _links = fields.Dict(keys=fields.String(), values=fields.String(), data_key="_links")


class CheckSchema(Schema):
    status = fields.String(
        required=True, validate=OneOf(["up", "down", "not_configured"]), metadata={"example": "up"}
    )
    error = fields.String(metadata=sometimes("Exception class when down"))
    latency_ms = fields.Float(metadata=sometimes("Round trip of the probe, when measured"))


class HealthSchema(Schema):
    """Health bodies are bare (no ``data`` envelope), as load balancers expect."""

    status = fields.String(required=True, validate=OneOf(["ok", "down"]))
    checks = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(CheckSchema),
        metadata=sometimes("Only on /health/ready"),
    )


def _redirect(location: str, status: int) -> Response:
    """A redirect without Werkzeug's HTML body: this API answers JSON or nothing."""
    response = Response(b"", status=status)
    response.headers["Location"] = location
    return response


@bp.get("/")
@openapi.hidden
def home():
    """Browsers go to the docs (302); ``Accept: application/json`` gets links instead."""
    wanted = request.accept_mimetypes.best_match(["text/html", JSON_TYPE, "application/json"])
    if wanted == "text/html":
        response = _redirect("/docs", 302)
    else:
        links = {"api": "/v1", "docs": "/docs", "openapi": "/openapi.json"}
        response = resource_response(
            {"name": "Bookstore API", "version": __version__, "_links": links}
        )
    response.headers["Vary"] = "Accept"
    return response


@bp.get("/docs/")
@openapi.hidden
def docs_slash():
    """The docs live at /docs; the trailing-slash form is a common guess."""
    return _redirect("/docs", 301)


@bp.get("/v1")
@openapi.response(RootSchema)
def api_root():
    """List links to every collection."""
    links = {"self": "/v1", "openapi": "/openapi.json", "docs": "/docs"}
    for name in COLLECTIONS:
        if f"/v1/{name}" in current_app.extensions["bookstore_paths"]:
            links[name] = f"/v1/{name}"
    return resource_response({"name": "Bookstore API", "version": __version__, "_links": links})


def readiness_checks() -> dict[str, dict[str, object]]:
    """Each dependency's state; other modules register more checks (Redis)."""
    checks: dict[str, dict[str, object]] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = {"status": "up"}
    except Exception as exc:  # noqa: BLE001 - any failure means "down"; the reason is reported
        db.session.rollback()
        checks["database"] = {"status": "down", "error": exc.__class__.__name__}
    for name, probe in current_app.extensions.get("bookstore_health", {}).items():
        checks[name] = probe()
    return checks


def _health(status: int, body: dict[str, object]) -> Response:
    response = Response(dumps(body), status=status, content_type=JSON_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/health/live")
@openapi.response(HealthSchema, description="The process is up", bare=True)
def live():
    """Report that the process is up."""
    return _health(200, {"status": "ok"})


@bp.get("/health/ready")
@openapi.response(
    HealthSchema, description="Database and Redis are reachable", bare=True, also=(503,)
)
def ready():
    """Report whether the database and Redis are reachable (503 when not)."""
    checks = readiness_checks()
    down = any(check.get("status") == "down" for check in checks.values())
    return _health(503 if down else 200, {"status": "down" if down else "ok", "checks": checks})


@bp.get("/openapi.json", endpoint="openapi")
@openapi.hidden
def openapi_document():
    """The OpenAPI 3 document, generated from the routes and schemas."""
    cached = current_app.extensions.get("bookstore_openapi")
    if cached is None:
        cached = current_app.extensions["bookstore_openapi"] = dumps(
            openapi.build_spec(current_app)
        )
    response = Response(cached, content_type=JSON_TYPE)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bookstore API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui", deepLinking: true,
  persistAuthorization: true});</script>
</body></html>"""


@bp.get("/docs")
@openapi.hidden
def docs():
    """Interactive API documentation (Swagger UI, served locally)."""
    response = Response(DOCS_HTML, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:"
    )
    return response


@bp.get("/docs/assets/<path:filename>")
@openapi.hidden
def docs_assets(filename: str):
    """Swagger UI's static files from the swagger-ui-bundle package."""
    import swagger_ui_bundle

    return send_from_directory(Path(swagger_ui_bundle.swagger_ui_path), filename, max_age=86400)
