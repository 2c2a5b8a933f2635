"""No token or password in any log or file the server writes; tokens stored only as hashes."""

import pytest
import socketio

from harness import PASSWORD, Socket, login, register_and_login


def test_tokens_and_passwords_never_reach_logs_or_disk(fresh_server):
    srv = fresh_server()
    api = register_and_login(srv)
    rotated = srv.api(api.token).post("/api/device-sessions/refresh").json()["device_token_rotated"]
    srv.api().post("/api/device-sessions", json={"username": api.user["username"], "password": "Wrong-Guess-77"})
    sock = Socket(srv.url, rotated)
    sock.close()
    srv.stop()
    secrets = [api.token, rotated, PASSWORD, "Wrong-Guess-77"]
    logged = "".join(srv.output)
    files = [p for p in srv.data_dir.rglob("*") if p.is_file()]
    assert files
    for secret in secrets:
        assert secret not in logged
        for path in files:
            assert secret.encode() not in path.read_bytes(), path


def test_socket_from_a_foreign_origin_is_refused(server):
    """Engine.IO's handshake checks Origin; desktop clients send none or their own host."""
    handshake = "/socket.io/?EIO=4&transport=polling"
    foreign = server.api().get(handshake, headers={"Origin": "http://evil.example"})
    same = server.api().get(handshake, headers={"Origin": server.url})
    assert foreign.status_code == 400
    assert same.status_code == 200


def test_socket_refusal_carries_a_localized_code(server):
    refusals = []
    client = socketio.Client(reconnection=False)
    client.on("connect_error", lambda data: refusals.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(server.url, auth={"token": "dead", "lang": "en-US"}, transports=["websocket"], wait_timeout=5)
    assert refusals[0]["message_code"] == "AUTH_TOKEN_INVALID_OR_EXPIRED"
    assert refusals[0]["locale"] == "en-US"
    assert refusals[0]["message_localized"] == "The session expired or is not valid."


def test_password_hash_is_argon2id_and_tokens_are_hashed(fresh_server):
    srv = fresh_server()
    api = register_and_login(srv)
    login(srv, api.user["username"])
    srv.stop()
    [(hashed,)] = srv.sql("SELECT password_hash FROM users WHERE username = :name", name=api.user["username"])
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    tokens = [row[0] for row in srv.sql("SELECT token_hash FROM device_sessions")]
    assert api.token not in tokens and all(len(t) == 64 for t in tokens)


def test_a_device_revoked_from_the_shell_can_send_nothing_more(fresh_server):
    """The admin CLI can't reach live sockets; the next socket event re-checks the sign-in."""
    from messaging import open_room, text

    srv = fresh_server(config="socket_sweep_seconds = 3600.0\n")  # only the per-event check can act
    alice, bob = register_and_login(srv), register_and_login(srv)
    room_id = open_room(alice, bob)
    sock = Socket(srv.url, alice.token)
    assert sock.call("send_message", text(room_id, "before"))["ok"] is True
    srv.admin("revoke-device", str(alice.device_session_id))
    refused = sock.call("send_message", text(room_id, "after"))
    assert refused["ok"] is False and refused["error_code"] == "AUTH_TOKEN_INVALID_OR_EXPIRED"
    contents = [m["content"] for m in bob.get(f"/api/rooms/{room_id}/messages").json()["messages"]]
    assert contents == ["before"]
    sock.close()
