"""Typed reading of request input: every bad value becomes a VALIDATION_ERROR naming the field."""

from __future__ import annotations

import re
from typing import Any, overload

from flask import request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

from messenger.server.errors import ApiError

_MISSING = object()
# The largest integer SQLite (and a PostgreSQL bigint) stores; a bigger id would not bind.
MAX_ID = 2**63 - 1


def fits_64_bits(value: int) -> bool:
    """Whether the database can bind `value` (a bigger one fails deep in the driver)."""
    return -MAX_ID - 1 <= value <= MAX_ID


class IdConverter(IntegerConverter):
    """`<int:...>` in a route: an id too big for the database is a 400, not a crash in the driver."""

    def to_python(self, value: str) -> int:
        number: int = super().to_python(value)
        if not fits_64_bits(number):
            raise BadRequest()  # routing keeps it: answered as VALIDATION_ERROR by the error handlers
        return number


def json_body() -> dict[str, Any]:
    """The request's JSON object; anything else is refused."""
    data = request.get_json(silent=True)
    if data is None and request.get_data(cache=True):
        raise ApiError("INVALID_JSON")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ApiError("INVALID_JSON", detail="The body must be a JSON object.")
    return data


def invalid(name: str, why: str) -> ApiError:
    return ApiError("VALIDATION_ERROR", detail=f"{name}: {why}")


def take(data: dict[str, Any], name: str, kind: type, default: Any = _MISSING) -> Any:
    """`data[name]` if it has type `kind` (bool is never an int); the default when absent."""
    if name not in data or data[name] is None:
        if default is _MISSING:
            raise invalid(name, "is required")
        return default
    value = data[name]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise invalid(name, "must be an integer")
    if kind is int and not fits_64_bits(value):
        raise invalid(name, "is out of range")
    if not isinstance(value, kind):
        raise invalid(name, f"must be a {kind.__name__}")
    return value


@overload
def take_text(data: dict[str, Any], name: str, min_len: int = ..., max_len: int = ..., default: str = ...,
              pattern: str | None = ...) -> str: ...
@overload
def take_text(data: dict[str, Any], name: str, min_len: int = ..., max_len: int = ..., default: None = ...,
              pattern: str | None = ...) -> str | None: ...
def take_text(data: dict[str, Any], name: str, min_len: int = 0, max_len: int = 10_000, default: object = _MISSING,
              pattern: str | None = None) -> str | None:
    value: str | None = take(data, name, str, default)
    if value is None or (value is default and default is not _MISSING):  # None only ever as the default
        return value
    if not min_len <= len(value) <= max_len:
        raise invalid(name, f"must be {min_len}-{max_len} characters")
    if pattern and not re.fullmatch(pattern, value):
        raise invalid(name, "has characters that are not allowed")
    return value


def take_id_list(data: dict[str, Any], name: str, max_items: int = 500) -> list[int]:
    values: list[int] = take(data, name, list)
    if len(values) > max_items or any(isinstance(v, bool) or not isinstance(v, int) or not fits_64_bits(v)
                                      for v in values):
        raise invalid(name, f"must be a list of at most {max_items} integers")
    return list(dict.fromkeys(values))


@overload
def query_int(name: str, default: int, low: int, high: int) -> int: ...
@overload
def query_int(name: str, default: None, low: int, high: int) -> int | None: ...
def query_int(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, "must be an integer") from None
    if not low <= value <= high:
        raise invalid(name, f"must be between {low} and {high}")
    return value


def query_flag(name: str) -> bool:
    return request.args.get(name, "").lower() in {"1", "true", "yes"}
