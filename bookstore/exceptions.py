"""The API's exceptions: raised anywhere, rendered as the error envelope by bookstore.web.errors.

A leaf module: it imports nothing of the app, so every layer can raise these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from marshmallow import ValidationError, fields

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


# -- validation messages -> the envelope's details ------------------------------------


class Msg(str):
    """An error message that carries a machine-readable code for the envelope."""

    code: str

    def __new__(cls, code: str, text: str) -> Msg:
        obj = super().__new__(cls, text)
        obj.code = code
        return obj


def fail(code: str, text: str) -> ValidationError:
    return ValidationError(Msg(code, text))


# -- marshmallow messages -> contract codes ------------------------------------------

_KEY_CODES = {
    "required": "REQUIRED",
    "null": "NULL_NOT_ALLOWED",
    "invalid": "INVALID_TYPE",
    "type": "INVALID_TYPE",
    "format": "INVALID_FORMAT",
    "too_large": "OUT_OF_RANGE",
    "special": "INVALID_VALUE",
    "invalid_utf8": "INVALID_FORMAT",
    "invalid_choice": "INVALID_CHOICE",
}


def _message_codes() -> dict[str, str]:
    codes = {"Unknown field.": "UNKNOWN_FIELD"}
    for name in dir(fields):
        cls = getattr(fields, name)
        if isinstance(cls, type) and issubclass(cls, fields.Field):
            for key, text in getattr(cls, "default_error_messages", {}).items():
                if "{" not in text:
                    codes.setdefault(text, _KEY_CODES.get(key, "INVALID_VALUE"))
    return codes


MESSAGE_CODES = _message_codes()


def _code_of(message: Any) -> str:
    return getattr(message, "code", None) or MESSAGE_CODES.get(str(message), "INVALID_VALUE")


def marshmallow_details(exc: ValidationError) -> list[dict[str, str]]:
    """Flatten marshmallow's nested messages into the envelope's ``details`` list."""
    out: list[dict[str, str]] = []

    def walk(messages: Any, path: str) -> None:
        if isinstance(messages, dict):
            for key, value in messages.items():
                name = path if key == "_schema" else f"{path}.{key}" if path else str(key)
                walk(value, name)
        elif isinstance(messages, list | tuple):
            for item in messages:
                walk(item, path)
        else:
            out.append({"field": path, "code": _code_of(messages), "message": str(messages)})

    walk(exc.messages, "")
    return out


# -- fields --------------------------------------------------------------------------
