"""The API description (spec/openapi.yaml) and the socket events (spec/socket-events.json) as checks.

`check_response(response)` validates a real httpx response against the operation it answers: its
status must be documented (or fall to `default`), its content type listed, and a JSON body must
match the schema. The harness' `Api` calls it on every response (see harness.py).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import jsonschema_rs
import yaml

SPEC = Path(__file__).resolve().parent.parent / "spec"


class BreaksDescription(AssertionError):
    """A response the API description does not allow."""


@functools.cache
def openapi() -> dict:
    return yaml.safe_load((SPEC / "openapi.yaml").read_text(encoding="utf-8"))


@functools.cache
def socket_events() -> dict:
    return json.loads((SPEC / "socket-events.json").read_text(encoding="utf-8"))


def _param_pattern(name: str, parameters: list[dict]) -> str:
    for parameter in parameters:
        parameter = resolve(parameter)
        if parameter["in"] == "path" and parameter["name"] == name:
            schema = resolve(parameter["schema"])
            return r"\d+" if schema.get("type") == "integer" else (".+" if name == "file_path" else "[^/]+")
    raise KeyError(f"path parameter {name} is not described")


def resolve(node: dict) -> dict:
    """Follow a local `$ref` (one level is all the document uses)."""
    ref = node.get("$ref") if isinstance(node, dict) else None
    if not ref:
        return node
    target = openapi()
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


@functools.cache
def _routes() -> list[tuple[re.Pattern, str, str, int]]:
    """(regex, template, method, rank) for every operation; literal and integer paths rank first."""
    routes = []
    for template, item in openapi()["paths"].items():
        for method, operation in item.items():
            parameters = operation.get("parameters", [])
            names = re.findall(r"{(\w+)}", template)
            regex = re.escape(template)
            for name in names:
                regex = regex.replace(re.escape("{" + name + "}"), f"({_param_pattern(name, parameters)})")
            loose = sum(1 for name in names if _param_pattern(name, parameters) != r"\d+")
            routes.append((re.compile(regex + "$"), template, method.upper(), len(names) * 10 + loose))
    return sorted(routes, key=lambda route: route[3])


def operation_for(method: str, path: str) -> tuple[str, dict] | None:
    for regex, template, route_method, _ in _routes():
        if route_method == method and regex.match(path):
            return template, openapi()["paths"][template][method.lower()]
    return None


@functools.cache
def _validator(schema_json: str):
    # The components ride along so that "#/components/..." references resolve from this root.
    schema = {**json.loads(schema_json), "components": openapi()["components"]}
    return jsonschema_rs.Draft202012Validator(schema)


def schema_errors(schema: dict, instance) -> list[str]:
    validator = _validator(json.dumps(schema, sort_keys=True))
    return [f"{'/'.join(map(str, error.instance_path)) or '(body)'}: {error.message}"
            for error in validator.iter_errors(instance)]


def check_response(response) -> None:
    """Raise BreaksDescription if `response` (httpx) is not what its operation documents."""
    request = response.request
    path = request.url.path
    if path.startswith("/socket.io/"):
        return  # the socket half: spec/socket-events.json
    found = operation_for(request.method, path)
    if found is None:
        if response.status_code in (404, 405):
            return  # a path or method the API does not have: nothing to describe
        raise BreaksDescription(f"{request.method} {path} answered {response.status_code} but is not described")
    template, operation = found
    responses = operation["responses"]
    described = responses.get(str(response.status_code)) or responses.get("default")
    where = f"{request.method} {template} -> {response.status_code}"
    if described is None:
        raise BreaksDescription(f"{where}: status not described")
    content = resolve(described).get("content", {})
    if not content:
        return
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    schema = content.get(media_type, content.get("*/*", {})).get("schema") if (
        media_type in content or "*/*" in content) else None
    if media_type not in content and "*/*" not in content:
        raise BreaksDescription(f"{where}: content type {media_type!r} not in {sorted(content)}")
    if media_type != "application/json" or schema is None:
        return
    response.read()
    try:
        body = response.json()
    except ValueError:
        raise BreaksDescription(f"{where}: the body is not JSON") from None
    errors = schema_errors(schema, body)
    if errors:
        raise BreaksDescription(f"{where}: " + "; ".join(errors[:5]))


def check_socket_payload(kind: str, event: str, payload) -> list[str]:
    """Errors of `payload` against spec/socket-events.json: kind is `client` (what a client
    sends), `ack` (the server's answer to it) or `server` (an event the server emits)."""
    document = socket_events()
    schema = {**document[kind][event], "$defs": document["$defs"]}
    return schema_errors(schema, payload)
