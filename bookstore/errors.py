"""Every exception becomes the contract's error envelope here, and only here.

Views raise; they never build error responses themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from bookstore.http import error_response, request_id
from bookstore.validation import marshmallow_details

log = logging.getLogger("bookstore.errors")

Detail = dict[str, str]


class APIError(Exception):
    """An error the client caused or must know about, rendered as the error envelope."""

    status = 400
    code = "VALIDATION_ERROR"
    message = "The request is invalid"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        details: Iterable[Detail] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.status = status or self.status
        self.details = list(details or [])
        self.headers = dict(headers or {})
        super().__init__(self.message)


class BadRequest(APIError):
    pass


class InvalidQuery(APIError):
    code = "INVALID_QUERY_PARAMETER"
    message = "A query parameter is invalid"


class InvalidJSON(APIError):
    code = "INVALID_JSON"
    message = "The request body is not valid JSON"


class Unauthorized(APIError):
    status = 401
    code = "AUTHENTICATION_REQUIRED"
    message = "Authentication is required"

    def __init__(self, message: str | None = None, *, code: str | None = None, **kw: Any):
        super().__init__(message, code=code, **kw)
        error = {
            "AUTHENTICATION_REQUIRED": None,
            "INVALID_CREDENTIALS": None,
            "TOKEN_EXPIRED": "invalid_token",
            "INVALID_TOKEN": "invalid_token",
        }.get(self.code)
        challenge = 'Bearer realm="bookstore"'
        if error:
            challenge += f', error="{error}", error_description="{self.message}"'
        self.headers.setdefault("WWW-Authenticate", challenge)


class Forbidden(APIError):
    status = 403
    code = "INSUFFICIENT_PERMISSIONS"
    message = "You do not have permission to perform this action"


class NotFound(APIError):
    status = 404
    code = "RESOURCE_NOT_FOUND"
    message = "The requested resource was not found"


class Conflict(APIError):
    status = 409
    code = "DUPLICATE_RESOURCE"
    message = "The request conflicts with the current state of the resource"


class PreconditionFailed(APIError):
    status = 412
    code = "PRECONDITION_FAILED"
    message = "If-Match does not match the current ETag of the resource"


class UnprocessableEntity(APIError):
    status = 422
    code = "IDEMPOTENCY_KEY_REUSED"
    message = "The request could not be processed"


class ServiceUnavailable(APIError):
    status = 503
    code = "SERVICE_UNAVAILABLE"
    message = "A dependency is unavailable; try again shortly"

    def __init__(self, message: str | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.headers.setdefault("Retry-After", "5")


# Werkzeug's HTTP errors mapped onto the contract's codes.
HTTP_CODES = {
    400: ("VALIDATION_ERROR", "The request is invalid"),
    401: ("AUTHENTICATION_REQUIRED", "Authentication is required"),
    403: ("INSUFFICIENT_PERMISSIONS", "You do not have permission to perform this action"),
    404: ("RESOURCE_NOT_FOUND", "The requested resource was not found"),
    405: ("METHOD_NOT_ALLOWED", "The method is not allowed for the requested URL"),
    406: ("NOT_ACCEPTABLE", "This API only produces application/json"),
    413: ("PAYLOAD_TOO_LARGE", "The request body exceeds the configured limit"),
    414: ("URI_TOO_LONG", "The request line is too long"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "The request body must be application/json"),
    429: ("RATE_LIMIT_EXCEEDED", "Too many requests; slow down"),
    431: ("REQUEST_HEADERS_TOO_LARGE", "Too many request headers, or one is too large"),
}

PG_UNIQUE, PG_FOREIGN_KEY, PG_NOT_NULL, PG_CHECK = "23505", "23503", "23502", "23514"
PG_UNAVAILABLE_CLASSES = ("08", "57P")  # connection exceptions, admin shutdown
PG_DATA_EXCEPTION = "22"  # a value out of range or malformed for its column


def _integrity_error(exc: IntegrityError) -> APIError:
    """Map a constraint violation to 409 (state conflict) or 400 (bad reference)."""
    orig = exc.orig
    pgcode = getattr(orig, "pgcode", None)
    text = str(orig)
    statement = (exc.statement or "").lstrip().upper()
    constraint = getattr(getattr(orig, "diag", None), "constraint_name", None) or ""

    if pgcode == PG_UNIQUE or "UNIQUE constraint failed" in text:
        columns = _unique_columns(constraint) if constraint else _unique_columns_sqlite(text)
        *scope, field = columns or [""]
        message = f"Already exists for this {', '.join(scope)}." if scope else "Already exists."
        details = [{"field": field, "code": "DUPLICATE", "message": message}]
        return Conflict("A resource with the same unique value already exists", details=details)
    if pgcode == PG_FOREIGN_KEY or "FOREIGN KEY constraint failed" in text:
        if statement.startswith("DELETE") or "is still referenced" in text:
            return Conflict(
                "The resource is still referenced by other resources", code="RESOURCE_IN_USE"
            )
        field = _fk_field(constraint)
        details = [{"field": field, "code": "NOT_FOUND", "message": "Does not exist."}]
        return BadRequest("A referenced resource does not exist", details=details)
    return BadRequest("The request violates a data constraint")


def _unique_columns(name: str) -> list[str]:
    """The columns of a named unique constraint or index, from the models' metadata.

    Parsing ``uq_<table>_<columns>`` cannot tell where a table or column name with an
    underscore ends, nor split a composite key; the metadata knows.
    """
    from bookstore.extensions import db

    for table in db.metadata.tables.values():
        for item in (*table.constraints, *table.indexes):
            if item.name == name:
                return [column.name for column in item.columns]
    return []


def _fk_field(name: str) -> str:
    # fk_<table>_<column>_<referred>: the column ends in _id by our convention
    marker = name.find("_id_")
    if name.startswith("fk_") and marker != -1:
        head = name[3 : marker + 3]
        return head.split("_", 1)[1] if "_" in head else head
    return ""


def _unique_columns_sqlite(text: str) -> list[str]:
    # "UNIQUE constraint failed: magazines.issn, magazines.issue_number"
    tail = text.rsplit(":", 1)[-1]
    return [part.strip().split(".", 1)[-1] for part in tail.split(",") if part.strip()]


def _is_unavailable(exc: DBAPIError) -> bool:
    pgcode = getattr(exc.orig, "pgcode", None) or ""
    return (
        exc.connection_invalidated
        or pgcode.startswith(PG_UNAVAILABLE_CLASSES)
        or (isinstance(exc, OperationalError) and not pgcode)
    )


def render(exc: APIError):
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


def register_error_handlers(app: Flask) -> None:
    from bookstore.extensions import db

    app.register_error_handler(APIError, render)

    @app.errorhandler(ValidationError)
    def validation_error(exc: ValidationError):
        return render(
            BadRequest("The request body contains invalid data", details=marshmallow_details(exc))
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        code, message = HTTP_CODES.get(status, ("HTTP_ERROR", exc.description or exc.name))
        headers = {}
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return error_response(status, code, message, [], headers)

    @app.errorhandler(IntegrityError)
    def integrity_error(exc: IntegrityError):
        db.session.rollback()
        return render(_integrity_error(exc))

    @app.errorhandler(PoolTimeoutError)
    def pool_timeout(exc: PoolTimeoutError):
        log.warning("database pool exhausted", extra={"request_id": request_id()})
        return render(ServiceUnavailable())

    @app.errorhandler(DBAPIError)
    def database_error(exc: DBAPIError):
        db.session.rollback()
        if _is_unavailable(exc):
            log.warning("database unavailable: %s", exc.orig.__class__.__name__)
            return render(ServiceUnavailable())
        if (getattr(exc.orig, "pgcode", None) or "").startswith(PG_DATA_EXCEPTION):
            # A schema should have refused the value; logged so the gap gets closed.
            log.warning(
                "data exception from the database: %s",
                exc.orig.__class__.__name__,
                extra={"request_id": request_id()},
            )
            return render(BadRequest("A value in the request is out of range or malformed"))
        return unexpected(exc)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled exception", extra={"request_id": request_id()})
        return error_response(500, "INTERNAL_ERROR", "An unexpected error occurred", [], {})
