"""Device sessions (contract section 1) against a real server."""

from datetime import datetime

import pytest

from harness import PASSWORD, Socket, login, register_and_login, unique_name

pytestmark = pytest.mark.contract  # run on SQLite and on PostgreSQL (conftest)


def test_sign_in_returns_contract_fields_and_token_works(server, user):
    me = user.get("/api/me")
    assert me.status_code == 200
    assert me.json()["user"]["id"] == user.user["id"]


def test_create_answers_every_contract_field(server):
    name = unique_name()
    server.api().post("/api/register", json={"username": name, "password": PASSWORD, "nickname": "닉네임"})
    reply = server.api().post("/api/device-sessions", json={
        "username": name, "password": PASSWORD, "device_name": "사무실 PC", "remember": False})
    assert reply.status_code == 201
    body = reply.json()
    assert set(body) >= {"access_ok", "device_token", "expires_at", "user", "csrf_token", "device_session_id",
                         "remember"}
    assert body["remember"] is False and body["access_ok"] is True
    assert len(body["device_token"]) >= 43  # 256 bits, url-safe base64
    ttl = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(body["user"]["created_at"])
    assert 0.9 < ttl.total_seconds() / 86400 < 1.1  # one day without "remember"


@pytest.mark.parametrize("remember", ["yes", 1, None, [], {}])
def test_non_bool_remember_is_refused(server, remember):
    name = unique_name()
    server.api().post("/api/register", json={"username": name, "password": PASSWORD})
    body = {"username": name, "password": PASSWORD, "device_name": "x", "remember": remember}
    if remember is None:
        body["remember"] = "null"
    reply = server.api().post("/api/device-sessions", json=body)
    assert reply.status_code == 400
    assert reply.json()["error_code"] == "VALIDATION_ERROR"


def test_refresh_rotates_and_old_token_dies(server, user):
    old = user.token
    reply = server.api(old).post("/api/device-sessions/refresh")
    assert reply.status_code == 200
    body = reply.json()
    assert body["device_session_id"] == user.device_session_id
    new = body["device_token_rotated"]
    assert new != old
    dead = server.api(old).get("/api/me")
    assert dead.status_code == 401 and dead.json()["error_code"] == "AUTH_TOKEN_INVALID_OR_EXPIRED"
    assert server.api(new).get("/api/me").status_code == 200


@pytest.mark.parametrize("where", ["header", "x-device-token", "body"])
def test_refresh_accepts_each_token_place(server, where):
    api = register_and_login(server)
    if where == "header":
        reply = server.api(api.token).post("/api/device-sessions/refresh")
    elif where == "x-device-token":
        reply = server.api().post("/api/device-sessions/refresh", headers={"X-Device-Token": api.token})
    else:
        reply = server.api().post("/api/device-sessions/refresh", json={"device_token": api.token})
    assert reply.status_code == 200, reply.text


def test_token_in_query_string_is_not_accepted(server, user):
    reply = server.api().get(f"/api/me?token={user.token}")
    assert reply.status_code == 401


def test_revoke_current_kills_token_and_socket(server, user):
    sock = Socket(server.url, user.token)
    reply = user.delete("/api/device-sessions/current")
    assert reply.json() == {"success": True, "revoked": True}
    assert sock.wait_for("session_revoked")["reason"] == "logout"
    assert user.get("/api/me").status_code == 401
    sock.drain(0.5)
    assert not sock.connected


def test_list_and_force_logout_other_device(server):
    first = register_and_login(server, device_name="노트북")
    second = login(server, first.user["username"], device_name="desk")
    rows = first.get("/api/device-sessions").json()["sessions"]
    assert {r["device_name"] for r in rows} == {"노트북", "desk"}
    assert [r["is_current"] for r in rows if r["id"] == first.device_session_id] == [True]
    reply = first.delete(f"/api/device-sessions/{second.device_session_id}")
    assert reply.json() == {"success": True, "current_revoked": False}
    assert second.get("/api/me").status_code == 401
    assert first.get("/api/me").status_code == 200


def test_cannot_revoke_someone_elses_session(server):
    alice, bob = register_and_login(server), register_and_login(server)
    reply = alice.delete(f"/api/device-sessions/{bob.device_session_id}")
    assert reply.status_code == 404
    assert bob.get("/api/me").status_code == 200


def test_unknown_user_and_wrong_password_answer_alike(server, user):
    wrong = server.api().post("/api/device-sessions", json={"username": user.user["username"], "password": "nope-nope"})
    unknown = server.api().post("/api/device-sessions", json={"username": unique_name(), "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_socket_connect_refused_without_valid_token(server):
    import socketio

    for auth in ({}, {"token": "not-a-token"}):
        client = socketio.Client(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            client.connect(server.url, auth=auth, transports=["websocket"], wait_timeout=5)
