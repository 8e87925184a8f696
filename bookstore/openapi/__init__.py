"""The OpenAPI document, built from the marshmallow schemas the views declare.

Views are decorated with :func:`query`, :func:`body`, :func:`response`, :func:`errors`,
:func:`header` and :func:`security`; :func:`build_spec` walks the URL map and turns
what they recorded into the document.
"""

from bookstore.openapi.decorators import (
    COMMON_HEADERS,
    ERROR_DESCRIPTIONS,
    body,
    errors,
    header,
    hidden,
    query,
    response,
    security,
)
from bookstore.openapi.document import build_spec

__all__ = [
    "COMMON_HEADERS",
    "ERROR_DESCRIPTIONS",
    "body",
    "build_spec",
    "errors",
    "header",
    "hidden",
    "query",
    "response",
    "security",
]
