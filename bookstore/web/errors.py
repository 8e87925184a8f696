"""Every exception becomes the contract's error envelope here, and only here.

Views raise; they never build error responses themselves.
"""

from __future__ import annotations

import logging

from flask import Flask
from gunicorn.http.errors import NoMoreData, ParseException
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import ClientDisconnected, HTTPException, MethodNotAllowed

from bookstore.db.session_end import rollback_session
from bookstore.exceptions import (
    HTTP_CODES,
    APIError,
    BadRequest,
    Conflict,
    ServiceUnavailable,
    marshmallow_details,
)
from bookstore.extensions import db
from bookstore.web.requests import request_id
from bookstore.web.responses import error_response

log = logging.getLogger("bookstore.errors")

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

    app.register_error_handler(APIError, render)

    @app.errorhandler(ValidationError)
    def validation_error(exc: ValidationError):
        return render(
            BadRequest("The request body contains invalid data", details=marshmallow_details(exc))
        )

    # Raised while the body is read: a malformed chunk (gunicorn), a body shorter than
    # its Content-Length or cut off (Werkzeug, gunicorn). The client's fault: 400.
    @app.errorhandler(ParseException)
    @app.errorhandler(NoMoreData)
    @app.errorhandler(ClientDisconnected)
    def unreadable_body(exc: Exception):
        log.info(
            "unreadable request body: %s", type(exc).__name__, extra={"request_id": request_id()}
        )
        return render(BadRequest("The request body is not valid HTTP"))

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
        rollback_session()
        return render(_integrity_error(exc))

    @app.errorhandler(PoolTimeoutError)
    def pool_timeout(exc: PoolTimeoutError):
        log.warning("database pool exhausted", extra={"request_id": request_id()})
        return render(ServiceUnavailable())

    @app.errorhandler(DBAPIError)
    def database_error(exc: DBAPIError):
        rollback_session()
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
