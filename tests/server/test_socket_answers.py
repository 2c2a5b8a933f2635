"""Every socket event is answered, as every HTTP request is: a refusal or INTERNAL_ERROR, in one error shape."""

from __future__ import annotations

import pytest
from broken_server import SECRET_IN_PAYLOAD, broken_server_command
from harness import ServerProcess, Socket, register_and_login
from messaging import open_room, text

from messenger.core import protocol

HUGE = 10**30
ERROR_FIELDS = {"error", "error_code", "error_localized", "locale"}


@pytest.mark.parametrize("event, payload", [
    (protocol.SEND_MESSAGE, text(HUGE)),
    (protocol.MESSAGE_READ, {"room_id": HUGE, "message_id": 1}),
    (protocol.TYPING, {"room_id": HUGE, "is_typing": True}),
    (protocol.JOIN_ROOM, {"room_id": HUGE}),
    (protocol.EDIT_MESSAGE, {"message_id": HUGE, "content": "x", "encrypted": False}),
    (protocol.DELETE_MESSAGE, {"message_id": HUGE}),
])
def test_ids_beyond_64_bits_are_a_validation_error(user, sockets, event, payload):
    ack = sockets(user).call(event, payload)
    assert ack["ok"] is False and ack["error_code"] == "VALIDATION_ERROR", ack
    assert "out of range" in ack["error"]


@pytest.mark.parametrize("path", [f"/api/rooms/{HUGE}/info", f"/api/messages/{HUGE}/reactions", f"/uploads/{HUGE}",
                                  f"/api/polls/{HUGE}"])
def test_ids_beyond_64_bits_in_a_path_are_a_validation_error(user, path):
    reply = user.get(path)
    assert reply.status_code == 400 and reply.json()["error_code"] == "VALIDATION_ERROR", reply.text


def test_ids_beyond_64_bits_in_a_body_are_a_validation_error(user):
    reply = user.post("/api/rooms", json={"member_ids": [HUGE]})
    assert reply.status_code == 400 and reply.json()["error_code"] == "VALIDATION_ERROR", reply.text
    room_id = open_room(user)
    reply = user.post(f"/api/rooms/{room_id}/admins", json={"user_id": HUGE, "is_admin": True})
    assert reply.status_code == 400 and reply.json()["error_code"] == "VALIDATION_ERROR", reply.text


def test_http_and_socket_errors_share_one_shape(user, sockets):
    http = user.get("/api/rooms/999999999/info", headers={"X-App-Language": "en-US"}).json()
    ack = sockets(user, lang="en-US").call(protocol.JOIN_ROOM, {"room_id": 999999999})
    assert set(http) == ERROR_FIELDS
    assert {k: ack[k] for k in ERROR_FIELDS} == http
    # The contract's socket names carry the same values.
    assert (ack["message"], ack["message_code"], ack["message_localized"]) == (
        http["error"], http["error_code"], http["error_localized"])


def test_an_unexpected_exception_in_a_handler_answers_internal_error(tmp_path):
    """Logged once with its traceback, without the event's payload; the socket stays usable."""
    command, env = broken_server_command("socket_raises")
    server = ServerProcess(tmp_path / "data", env=env, command=command, e2e_policy="optional").start()
    try:
        alice = register_and_login(server)
        room_id = open_room(alice)
        sock = Socket(server.url, alice.token)
        ack = sock.call(protocol.TYPING, {"room_id": room_id, "is_typing": True, "note": SECRET_IN_PAYLOAD})
        assert ack["ok"] is False and ack["error_code"] == "INTERNAL_ERROR", ack
        assert sock.wait_for(protocol.ERROR)["message_code"] == "INTERNAL_ERROR"
        assert sock.call(protocol.SEND_MESSAGE, text(room_id))["ok"] is True
        sock.close()
    finally:
        server.stop()
    logged = "".join(server.output)
    assert logged.count("unhandled error in socket event typing") == 1, logged
    assert logged.count("RuntimeError: broken on purpose") == 1
    assert SECRET_IN_PAYLOAD not in logged
