"""``GET /metrics``: Prometheus's text format, for a scraper that reaches each instance.

Not part of the public API: hidden from the OpenAPI document, exempt from rate limits,
and answered 404 by nginx (deploy/nginx), so only what can reach an instance directly
(the scraper, on the private network) reads it. ``METRICS_ENABLED=false`` turns it off.
"""

from __future__ import annotations

from flask import Blueprint, current_app
from prometheus_client import CONTENT_TYPE_LATEST

from bookstore import openapi
from bookstore.exceptions import NotFound
from bookstore.serving.metrics import exposition
from bookstore.web.responses import Response

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
@openapi.hidden
def metrics():
    """Report the instance's metrics in the Prometheus text format."""
    if not current_app.config["METRICS_ENABLED"]:
        raise NotFound()
    response = Response(exposition(current_app), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response
