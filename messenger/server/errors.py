"""One way to fail: `ApiError(code)` raised anywhere in a request, answered as JSON."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from messenger.core.errors import ERRORS, localized, pick_locale

HTTP_CODES = {
    400: "VALIDATION_ERROR",
    401: "AUTH_REQUIRED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    429: "RATE_LIMITED",
}


class Refused(Exception):
    """A command-line refusal (admin commands, imports, moves): a stable `code` and the text
    that says why, for the admin."""

    def __init__(self, code: str, text: str):
        super().__init__(text)
        self.code = code
        self.text = text


class ApiError(Exception):
    """A refusal with a stable code; `status` defaults to the code's own."""

    def __init__(self, code: str, status: int | None = None, detail: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(code)
        self.code = code
        self.status = status or ERRORS[code][0]
        self.detail = detail
        self.headers = headers or {}


def request_locale() -> str:
    return pick_locale(request.headers.get("X-App-Language"), request.headers.get("Accept-Language"))


def error_body(code: str, locale: str, detail: str | None = None) -> dict[str, str]:
    """The one error shape (`Error` in spec/openapi.yaml): HTTP answers it as is, sockets add to it."""
    return {
        "error": detail or localized(code, "en-US"),
        "error_code": code,
        "error_localized": localized(code, locale),
        "locale": locale,
    }


def error_response(code: str, status: int | None = None, detail: str | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    response = jsonify(error_body(code, request_locale(), detail))
    response.status_code = status or ERRORS[code][0]
    response.headers.update(headers or {})
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.code, exc.status, exc.detail, exc.headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return error_response(HTTP_CODES.get(exc.code or 500, "INTERNAL_ERROR"), exc.code)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response("INTERNAL_ERROR", 500)
