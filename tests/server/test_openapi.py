"""The API description: every route is in it, it is served, and real answers keep to it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from api_description import BreaksDescription, check_socket_payload, openapi, socket_events
from broken_server import broken_server_command
from harness import ServerProcess
from messaging import open_room, text

from messenger.core import protocol
from messenger.core.errors import ERRORS
from messenger.server.actions import keys

ROOT = Path(__file__).resolve().parents[2]
# Codes the client shows for its own failures; the server never answers them.
# Said by clients, never answered by the server: E2E outcomes, and the desk's refusals of a server.
CLIENT_ONLY_CODES = {code for code in ERRORS if code.startswith(("E2E_", "SERVER_CERTIFICATE_"))} | {
    "SERVER_UNREACHABLE", "TIMED_OUT"}
METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH"}


def openapi_paths(rule: str) -> list[str]:
    """A Flask rule in OpenAPI's path syntax; a rule with `<any(a, b):name>` is one path per word."""
    choice = re.search(r"<any\(([^)]*)\):\w+>", rule)
    if choice:
        return [path for word in choice[1].split(",")
                for path in openapi_paths(rule[:choice.start()] + word.strip() + rule[choice.end():])]
    return [re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule)]


def flask_routes(app) -> set[tuple[str, str]]:
    """(METHOD, /path/{name}) for every rule of the app, in OpenAPI's path syntax."""
    return {(method, path) for rule in app.url_map.iter_rules() for path in openapi_paths(rule.rule)
            for method in rule.methods & METHODS}


def described_routes() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in openapi()["paths"].items() for method in item
            if method.upper() in METHODS}


def test_every_route_is_described(app):
    missing = flask_routes(app) - described_routes()
    assert not missing, f"routes missing from spec/openapi.yaml: {sorted(missing)}"


def test_every_described_operation_is_a_route(app):
    stale = described_routes() - flask_routes(app)
    assert not stale, f"spec/openapi.yaml describes routes the server does not have: {sorted(stale)}"


def test_the_served_description_is_the_yaml(server):
    """The server answers the JSON copy (build/openapi_json.py writes it), which is the YAML."""
    copy = json.loads((ROOT / "messenger/server/http/openapi.json").read_text(encoding="utf-8"))
    assert copy == openapi(), "messenger/server/http/openapi.json is stale: run python build/openapi_json.py"
    reply = server.api().get("/api/openapi.json")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/json")
    assert reply.json() == openapi()
    assert reply.json()["openapi"].startswith("3.1")


def test_the_error_codes_are_the_servers():
    described = set(openapi()["components"]["schemas"]["Error"]["properties"]["error_code"]["enum"])
    assert described == set(ERRORS) - CLIENT_ONLY_CODES
    named = set(re.findall(r"\b[A-Z][A-Z0-9]+(?:_[A-Z0-9]+)+\b", json.dumps(openapi()["paths"])))
    assert named <= set(ERRORS), f"codes named in the description that do not exist: {named - set(ERRORS)}"


def test_every_socket_event_is_described():
    document = socket_events()
    sent_by_clients = {protocol.SEND_MESSAGE, protocol.MESSAGE_READ, protocol.TYPING, protocol.EDIT_MESSAGE,
                       protocol.DELETE_MESSAGE, protocol.JOIN_ROOM, protocol.LEAVE_ROOM, protocol.SUBSCRIBE_ROOMS}
    assert set(document["client"]) == set(document["ack"]) == sent_by_clients
    emitted = {value for name, value in vars(protocol).items() if name.isupper() and isinstance(value, str)
               and value not in sent_by_clients and name not in {"MESSAGE_TYPES_SENDABLE"}}
    emitted |= {keys.DEVICE_KEYS_PUBLISHED, keys.ROOM_KEY_CREATED, keys.ROOM_KEY_AVAILABLE, keys.ROOM_KEY_REQUESTED,
                keys.ROOM_KEY_REQUEST_FULFILLED, keys.ROOM_KEY_POLICY_UPDATED, keys.KEY_BACKUP_UPDATED}
    assert set(document["server"]) == emitted


def test_socket_answers_and_events_keep_to_the_description(users, sockets):
    """Each client event, sent right and sent wrong: the acks and the events seen all match."""
    alice, bob = users(2)
    room_id = open_room(alice, bob)
    alice_socket, bob_socket = sockets(alice), sockets(bob)
    calls = [
        (protocol.JOIN_ROOM, {"room_id": room_id}),
        (protocol.SUBSCRIBE_ROOMS, {"room_ids": [room_id, "x"]}),
        (protocol.SEND_MESSAGE, text(room_id, client_msg_id="c1")),
        (protocol.SEND_MESSAGE, text(room_id, client_msg_id="c1")),
        (protocol.TYPING, {"room_id": room_id, "is_typing": True}),
        (protocol.LEAVE_ROOM, {"room_id": room_id}),
        (protocol.SEND_MESSAGE, {"room_id": room_id}),
        (protocol.TYPING, {"room_id": "nope", "is_typing": 1}),
    ]
    message_id = None
    for event, payload in calls:
        ack = alice_socket.call(event, payload)
        message_id = ack.get("message_id", message_id)
        assert not check_socket_payload("ack", event, ack), (event, ack, check_socket_payload("ack", event, ack))
    for event, payload in [(protocol.MESSAGE_READ, {"room_id": room_id, "message_id": message_id}),
                           (protocol.EDIT_MESSAGE, {"message_id": message_id, "content": "고침", "encrypted": False}),
                           (protocol.DELETE_MESSAGE, {"message_id": message_id})]:
        assert not check_socket_payload("client", event, payload)
        ack = (bob_socket if event == protocol.MESSAGE_READ else alice_socket).call(event, payload)
        assert ack["ok"] is True and not check_socket_payload("ack", event, ack), (event, ack)
    seen = bob_socket.drain(0.5) + alice_socket.drain(0.1)
    names = {name for name, _ in seen}
    assert {protocol.NEW_MESSAGE, protocol.USER_TYPING, protocol.MESSAGE_EDITED, protocol.MESSAGE_DELETED,
            protocol.READ_UPDATED, protocol.ERROR} <= names, names
    for name, data in seen:
        assert not check_socket_payload("server", name, data), (name, data, check_socket_payload("server", name, data))


def test_a_socket_payload_off_the_description_is_reported():
    assert check_socket_payload("ack", protocol.SEND_MESSAGE, {"ok": True, "message_id": "7"})
    assert check_socket_payload("server", protocol.USER_TYPING, {"room_id": 1, "user_id": 2})


def test_an_answer_off_the_description_fails_the_test_that_got_it(tmp_path):
    """The check in harness.Api (on for every test) reports a handler broken on purpose."""
    command, env = broken_server_command("http_off_spec")
    server = ServerProcess(tmp_path / "data", env=env, command=command).start()
    try:
        with pytest.raises(BreaksDescription, match=r"GET /api/system/health -> 200: .*status: \"ok\" was expected"):
            server.api().get("/api/system/health")
    finally:
        server.stop()
