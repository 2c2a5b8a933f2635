"""Platform administration (contract section 10): the admin API and its `messenger admin` twins."""

import io
import os
import json
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest

from harness import PASSWORD, Socket, login, register_and_login, unique_name
from messenger.cli import main

ADMIN_ENDPOINTS = [
    ("GET", "/api/admin/users"),
    ("POST", "/api/admin/users"),
    ("POST", "/api/admin/users/{id}/disable"),
    ("POST", "/api/admin/users/{id}/enable"),
    ("POST", "/api/admin/users/{id}/reset-password"),
    ("DELETE", "/api/admin/users/{id}"),
    ("GET", "/api/admin/device-sessions"),
    ("DELETE", "/api/admin/device-sessions/{device}"),
    ("GET", "/api/admin/rooms"),
    ("GET", "/api/admin/settings"),
    ("PUT", "/api/admin/settings"),
    ("GET", "/api/admin/audit"),
]


@pytest.fixture
def admin(server):
    """The shared server's first-run platform admin, signed in."""
    return login(server, "admin", server.first_admin_password, device_name="admin desk")


def cli(srv, *args, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`messenger admin --data-dir DIR ARGS...`, run in this process (the server is another
    one) to spare an interpreter start per command; `cli_process` runs the real thing."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["admin", "--data-dir", str(srv.data_dir), *args]
    with mock.patch.object(sys, "stdin", io.StringIO(stdin or "")), mock.patch.dict(os.environ, srv.env), \
            redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def cli_process(srv, *args, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "messenger", "admin", "--data-dir", str(srv.data_dir), *args],
                          input=stdin, capture_output=True, text=True, timeout=120, env=srv.environment)


def cli_json(srv, *args, stdin: str | None = None):
    result = cli(srv, *args, "--json", stdin=stdin)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def user_row(admin, user_id: int) -> dict:
    [row] = [u for u in admin.get("/api/admin/users").json()["users"] if u["id"] == user_id]
    return row


@pytest.mark.parametrize("method,path", ADMIN_ENDPOINTS)
def test_every_admin_endpoint_refuses_non_admins_and_anonymous_callers(server, users, method, path):
    member, victim = users(2)
    url = path.format(id=victim.user["id"], device=victim.device_session_id)
    sneaky = unique_name("sneaky")
    body = {"POST": {"username": sneaky, "password": PASSWORD, "new_password": PASSWORD, "is_admin": True},
            "PUT": {"self_registration": False}}.get(method)
    refused = member.request(method, url, json=body)
    assert refused.status_code == 403 and refused.json()["error_code"] == "PLATFORM_ADMIN_REQUIRED"
    anonymous = server.api().request(method, url, json=body)
    assert anonymous.status_code == 401 and anonymous.json()["error_code"] == "AUTH_REQUIRED"
    assert victim.get("/api/me").status_code == 200  # nothing happened to the target
    assert server.api().post("/api/device-sessions", json={"username": sneaky, "password": PASSWORD}
                             ).status_code == 401
    assert server.api().post("/api/register", json={"username": sneaky, "password": PASSWORD}).status_code == 201


def test_user_list_shows_status_role_last_login_and_live_devices(server, admin, users):
    kim, lee = users(2)
    login(server, kim.user["username"], device_name="second desk")
    rows = {u["id"]: u for u in admin.get("/api/admin/users").json()["users"]}
    assert rows[kim.user["id"]]["live_devices"] == 2 and rows[kim.user["id"]]["status"] == "active"
    assert rows[kim.user["id"]]["is_admin"] is False and rows[admin.user["id"]]["is_admin"] is True
    last_login = datetime.fromisoformat(rows[kim.user["id"]]["last_login"])
    assert datetime.now(timezone.utc) - last_login < timedelta(minutes=1)
    admin.post(f"/api/admin/users/{lee.user['id']}/disable")
    disabled = admin.get("/api/admin/users", params={"status": "disabled"}).json()["users"]
    assert lee.user["id"] in {u["id"] for u in disabled} and kim.user["id"] not in {u["id"] for u in disabled}
    bad = admin.get("/api/admin/users", params={"status": "sleeping"})
    assert bad.status_code == 400 and "status" in bad.json()["error"]


def test_user_list_columns_line_up_when_a_nickname_is_korean(server, users):
    """A terminal gives a Hangul syllable two columns: the columns after it must still line up."""
    users(1, nickname="김민수")
    users(1, nickname="kim")
    lines = cli(server, "list-users").stdout.splitlines()

    def columns(text: str) -> int:
        return len(text) + sum(1 for ch in text if "\uac00" <= ch <= "\ud7a3")

    starts = {columns(line[:line.index("  active")]) for line in lines[1:] if "  active" in line}
    assert starts == {columns(lines[0][:lines[0].index("  status")])}
    assert any("김민수" in line for line in lines) and any("  kim " in line for line in lines)


def test_create_user_with_a_password_or_a_generated_one(server, admin):
    name = unique_name()
    made = admin.post("/api/admin/users", json={"username": name, "password": PASSWORD, "nickname": "김민수",
                                                "is_admin": True})
    assert made.status_code == 201 and "generated_password" not in made.json()
    assert made.json()["user"]["is_admin"] is True and made.json()["user"]["nickname"] == "김민수"
    assert login(server, name).user["is_admin"] is True
    other = unique_name()
    generated = admin.post("/api/admin/users", json={"username": other})
    assert generated.status_code == 201
    assert login(server, other, generated.json()["generated_password"]).get("/api/me").status_code == 200
    for body, code in [({"username": "a b", "password": PASSWORD}, "VALIDATION_ERROR"),
                       ({"username": unique_name(), "password": "short"}, "PASSWORD_TOO_WEAK"),
                       ({"username": unique_name(), "is_admin": "yes"}, "VALIDATION_ERROR"),
                       ({"username": name.upper(), "password": PASSWORD}, "USERNAME_TAKEN")]:
        reply = admin.post("/api/admin/users", json=body)
        assert reply.status_code in (400, 409) and reply.json()["error_code"] == code, body


def test_disable_revokes_every_device_cookie_and_socket_and_enable_lets_them_back(server, admin):
    kim = register_and_login(server)
    second = login(server, kim.user["username"], device_name="laptop")
    browser = server.api()
    assert browser.post("/api/login", json={"username": kim.user["username"], "password": PASSWORD}).status_code == 200
    sock = Socket(server.url, second.token)
    reply = admin.post(f"/api/admin/users/{kim.user['id']}/disable")
    assert reply.status_code == 200 and reply.json()["user"]["status"] == "disabled"
    assert sock.wait_for("session_revoked")["reason"] == "account_disabled"
    for api in (kim, second, browser):
        assert api.get("/api/me").status_code == 401
    again = server.api().post("/api/device-sessions", json={"username": kim.user["username"], "password": PASSWORD})
    assert again.status_code == 403 and again.json()["error_code"] == "AUTH_ACCOUNT_DISABLED"
    assert admin.post(f"/api/admin/users/{kim.user['id']}/disable").json()["changed"] is False
    assert admin.post(f"/api/admin/users/{kim.user['id']}/enable").json()["user"]["status"] == "active"
    assert kim.get("/api/me").status_code == 401  # old sessions stay revoked
    assert login(server, kim.user["username"]).get("/api/me").status_code == 200


def test_reset_password_given_or_generated_signs_every_device_out(server, admin):
    kim = register_and_login(server)
    sock = Socket(server.url, kim.token)
    weak = admin.post(f"/api/admin/users/{kim.user['id']}/reset-password", json={"new_password": "short"})
    assert weak.status_code == 400 and weak.json()["error_code"] == "PASSWORD_TOO_WEAK"
    assert kim.get("/api/me").status_code == 200  # a refused reset changes nothing
    reply = admin.post(f"/api/admin/users/{kim.user['id']}/reset-password", json={"new_password": "Brand-New-Pass-7"})
    assert reply.status_code == 200 and "generated_password" not in reply.json()
    assert sock.wait_for("session_revoked")["reason"] == "password_changed"
    assert kim.get("/api/me").status_code == 401
    assert login(server, kim.user["username"], "Brand-New-Pass-7").get("/api/me").status_code == 200
    generated = admin.post(f"/api/admin/users/{kim.user['id']}/reset-password").json()["generated_password"]
    assert len(generated) >= 16
    assert login(server, kim.user["username"], generated).get("/api/me").status_code == 200


def test_delete_user_anonymises_and_is_final(server, admin):
    kim = register_and_login(server)
    sock = Socket(server.url, kim.token)
    reply = admin.delete(f"/api/admin/users/{kim.user['id']}")
    assert reply.status_code == 200 and reply.json()["user"]["status"] == "deleted"
    assert sock.wait_for("session_revoked")["reason"] == "account_deleted"
    assert kim.get("/api/me").status_code == 401
    assert kim.user["username"] not in {u["username"] for u in admin.get("/api/users").json()["users"]}
    for method, path in [("DELETE", ""), ("POST", "/disable"), ("POST", "/enable"), ("POST", "/reset-password")]:
        gone = admin.request(method, f"/api/admin/users/{kim.user['id']}{path}")
        assert gone.status_code == 404 and gone.json()["error_code"] == "USER_NOT_FOUND"
    assert admin.post("/api/admin/users/999999/disable").json()["error_code"] == "USER_NOT_FOUND"


def test_admin_cannot_disable_or_delete_themself(server, admin):
    for method, path in [("POST", "/disable"), ("DELETE", "")]:
        reply = admin.request(method, f"/api/admin/users/{admin.user['id']}{path}")
        assert reply.status_code == 409 and reply.json()["error_code"] == "ADMIN_SELF_ACTION"
    assert admin.get("/api/me").status_code == 200


def test_device_sessions_are_listed_per_user_and_revoked_with_their_socket(server, admin):
    kim = register_and_login(server, device_name="사무실 PC")
    laptop = login(server, kim.user["username"], device_name="laptop")
    sock = Socket(server.url, laptop.token)
    rows = admin.get("/api/admin/device-sessions", params={"user_id": kim.user["id"]}).json()["sessions"]
    assert {r["device_name"] for r in rows} == {"사무실 PC", "laptop"}
    assert {r["username"] for r in rows} == {kim.user["username"]}
    everyone = admin.get("/api/admin/device-sessions").json()["sessions"]
    assert [r["is_current"] for r in everyone if r["id"] == admin.device_session_id] == [True]
    reply = admin.delete(f"/api/admin/device-sessions/{laptop.device_session_id}")
    assert reply.json() == {"success": True, "revoked": True, "current_revoked": False}
    assert sock.wait_for("session_revoked")["reason"] == "revoked_by_admin"
    assert laptop.get("/api/me").status_code == 401 and kim.get("/api/me").status_code == 200
    again = admin.delete(f"/api/admin/device-sessions/{laptop.device_session_id}")
    assert again.status_code == 404 and again.json()["error_code"] == "DEVICE_SESSION_NOT_FOUND"


def test_room_list_counts_members_and_messages(server, admin, users):
    alice, bob, carol = users(3)
    created = alice.post("/api/rooms", json={"member_ids": [bob.user["id"], carol.user["id"]], "name": "총무팀"})
    room_id = created.json()["room_id"]
    sock = Socket(server.url, alice.token)
    for text in ("하나", "둘", "셋"):
        assert sock.call("send_message", {"room_id": room_id, "content": text, "type": "text",
                                          "encrypted": False})["ok"] is True
    sock.close()
    listing = admin.get("/api/admin/rooms", params={"limit": 1000}).json()
    [room] = [r for r in listing["rooms"] if r["id"] == room_id]
    assert (room["name"], room["member_count"], room["message_count"]) == ("총무팀", 3, 3)
    assert datetime.now(timezone.utc) - datetime.fromisoformat(room["last_message_at"]) < timedelta(minutes=1)
    assert listing["total"] >= 1
    assert admin.get("/api/admin/rooms", params={"limit": 0}).status_code == 400


BAD_SETTINGS = [
    ({"self_registration": "no"}, "self_registration"),
    ({"e2e_policy": "sometimes"}, "e2e_policy"),
    ({"mode": "browser-only"}, "mode"),
    ({"retention": {"days": 0}}, "retention.days"),
    ({"retention": {"days": 30, "rooms": {"99999999": 10}}}, "retention.rooms.99999999"),
    ({"retention": {"days": 30, "forever": True}}, "retention.forever"),
    ({"audit_retention_days": 7}, "audit_retention_days"),
    ({"release_policy": {"stable": {"minimum_version": "one point two"}}}, "release_policy.stable.minimum_version"),
    ({"release_policy": {"stable": {"minimum_version": "1.2", "latest_version": "1.1"}}},
     "release_policy.stable.latest_version"),
    ({"release_policy": {"stable": {"minimum_version": "1.0", "latest_version": "1.3.0a1"}}},
     "release_policy.stable.latest_version"),
    ({"release_policy": {"canary": {"download_url": "ftp://files"}}}, "release_policy.canary.download_url"),
    ({"release_policy": {"beta": {}}}, "release_policy.beta"),
    ({"colour": "blue"}, "colour"),
    ({"office_name": "총무팀" * 8}, "office_name"),  # 72 bytes: more than one DNS label
    ({"office_name": "line\nbreak"}, "office_name"),
    ({"discovery": "off"}, "discovery"),
    ({"self_registration": False, "e2e_policy": "sometimes"}, "e2e_policy"),
]


@pytest.mark.parametrize("body,key", BAD_SETTINGS)
def test_an_invalid_setting_is_refused_naming_its_key_and_nothing_is_stored(server, admin, body, key):
    before = admin.get("/api/admin/settings").json()
    reply = admin.put("/api/admin/settings", json=body)
    assert reply.status_code == 400 and reply.json()["error_code"] == "VALIDATION_ERROR"
    assert reply.json()["error"].startswith(f"{key}:")
    assert admin.get("/api/admin/settings").json() == before


def test_settings_round_trip_and_take_effect(fresh_server):
    srv = fresh_server()
    admin = login(srv, "admin", srv.first_admin_password)
    alice, bob = register_and_login(srv), register_and_login(srv)
    room_id = alice.post("/api/rooms", json={"member_ids": [bob.user["id"]]}).json()["room_id"]
    defaults = admin.get("/api/admin/settings").json()
    assert defaults["settings"]["self_registration"] is True and defaults["desktop_only_mode"] is False
    assert defaults["settings"]["retention"] == {"days": None, "rooms": {}}
    reply = admin.put("/api/admin/settings", json={
        "self_registration": False, "e2e_policy": "optional",
        "retention": {"days": 365, "rooms": {str(room_id): None}},
        "release_policy": {"stable": {"minimum_version": "1.0", "latest_version": "1.2.0",
                                      "download_url": "https://updates.office/messenger-1.2.0.msi"}},
    })
    assert reply.status_code == 200, reply.text
    stored = admin.get("/api/admin/settings").json()["settings"]
    assert stored["e2e_policy"] == "optional" and stored["retention"]["rooms"] == {str(room_id): None}
    assert stored["release_policy"]["stable"]["latest_version"] == "1.2.0"
    assert stored["release_policy"]["canary"]["minimum_version"] == "0.0.0"  # the channel left out: default
    refused = srv.api().post("/api/register", json={"username": unique_name(), "password": PASSWORD})
    assert refused.status_code == 403 and refused.json()["error_code"] == "REGISTRATION_DISABLED"
    assert admin.put("/api/admin/settings", json={}).status_code == 400


def test_admin_actions_are_audited_with_the_actor_and_filters_work(server, admin):
    kim = register_and_login(server)
    # The server's own clock: just after kim's sign-in, the newest row so far.
    signed_in = admin.get("/api/admin/audit", params={"user_id": kim.user["id"]}).json()["entries"][0]
    started = datetime.fromisoformat(signed_in["created_at"]) + timedelta(microseconds=1)
    admin.post(f"/api/admin/users/{kim.user['id']}/disable")
    admin.post(f"/api/admin/users/{kim.user['id']}/enable")
    entries = admin.get("/api/admin/audit", params={"user_id": kim.user["id"], "since": started.isoformat()}
                        ).json()["entries"]
    assert [e["action"] for e in entries] == ["account_enabled", "account_disabled"]
    assert {e["actor_id"] for e in entries} == {admin.user["id"]}
    assert entries[0]["username"] == kim.user["username"]
    only = admin.get("/api/admin/audit", params={"user_id": kim.user["id"], "action": "account_disabled"})
    assert [e["action"] for e in only.json()["entries"]] == ["account_disabled"]
    paged = admin.get("/api/admin/audit", params={"user_id": kim.user["id"], "limit": 1, "offset": 1}).json()
    assert [e["action"] for e in paged["entries"]] == ["account_disabled"]
    before = admin.get("/api/admin/audit", params={"user_id": kim.user["id"], "until": started.isoformat()})
    assert "account_disabled" not in [e["action"] for e in before.json()["entries"]]
    bad = admin.get("/api/admin/audit", params={"since": "last tuesday"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("since:")
    changed = admin.get("/api/admin/audit", params={"action": "settings_changed,user_created", "limit": 5})
    assert changed.status_code == 200


# --- the command line, beside a running server -------------------------------------------------

def wait_closed(sock: Socket, timeout: float = 8) -> dict:
    """The server closes a socket whose sign-in the command line ended within a few seconds."""
    event = sock.wait_for("session_revoked", timeout=timeout)
    deadline = time.monotonic() + 5
    while sock.connected and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not sock.connected
    return event


def test_cli_twins_work_on_a_running_server(fresh_server):
    srv = fresh_server()
    kim = register_and_login(srv, nickname="김민수")
    listed = cli_process(srv, "list-users", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {"admin", kim.user["username"]} <= {u["username"] for u in json.loads(listed.stdout)}
    text = cli(srv, "list-users").stdout
    assert "username" in text and kim.user["username"] in text

    made = cli(srv, "create-user", "lee_ops", "--nickname", "이운영", "--password-stdin", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    lee = login(srv, "lee_ops")

    devices = cli_json(srv, "list-devices", "--user", kim.user["username"])
    assert [d["id"] for d in devices] == [kim.device_session_id]

    rooms = cli_json(srv, "list-rooms")
    assert rooms["total"] == 0

    shown = cli_json(srv, "settings", "show")
    assert shown["settings"]["mode"] == "hybrid"
    assert cli_json(srv, "settings", "set", "self_registration", "false")["settings"]["self_registration"] is False
    assert srv.api().post("/api/register", json={"username": unique_name(), "password": PASSWORD}
                          ).json()["error_code"] == "REGISTRATION_DISABLED"
    bad = cli(srv, "settings", "set", "retention", '{"days": -1}')
    assert bad.returncode == 1 and "VALIDATION_ERROR" in bad.stderr and "retention.days" in bad.stderr

    release = cli_json(srv, "set-release", "canary", "--minimum", "0.1.0", "--latest", "0.2.0a1",
                       "--download-url", "https://updates.office/canary.msi")
    assert release["settings"]["release_policy"]["canary"]["latest_version"] == "0.2.0a1"
    update = srv.api().get("/api/client/update", params={"client_version": "0.1.0", "channel": "canary"}).json()
    assert update["latest_version"] == "0.2.0a1" and update["update_available"] is True

    reset = cli(srv, "reset-password", "lee_ops")
    assert reset.returncode == 0, reset.stderr
    generated = reset.stdout.split("new password (shown once): ")[1].strip()
    assert lee.get("/api/me").status_code == 401
    lee = login(srv, "lee_ops", generated)
    assert cli(srv, "reset-password", "lee_ops", "--password-stdin", stdin="Typed-Pass-123\n").returncode == 0
    lee = login(srv, "lee_ops", "Typed-Pass-123")

    assert cli(srv, "disable", str(lee.user["id"])).returncode == 0
    assert lee.get("/api/me").status_code == 401
    assert cli(srv, "enable", "LEE_OPS").returncode == 0
    lee = login(srv, "lee_ops", "Typed-Pass-123")

    assert cli(srv, "delete-user", "lee_ops").returncode == 1  # needs --yes
    assert cli(srv, "delete-user", "lee_ops", "--yes").returncode == 0
    assert lee.get("/api/me").status_code == 401

    log = cli_json(srv, "audit", "--action", "account_disabled,account_enabled,settings_changed", "--limit", "10")
    assert {e["action"] for e in log["entries"]} == {"account_disabled", "account_enabled", "settings_changed"}
    assert all(e["actor_id"] is None and "cli" in e["user_agent"] for e in log["entries"])
    assert cli_json(srv, "audit", "--user", kim.user["username"], "--since", "2000-01-01")["entries"]

    missing = cli(srv, "disable", "nobody_at_all", "--json")
    assert missing.returncode == 1 and json.loads(missing.stdout)["error_code"] == "USER_NOT_FOUND"
    assert "USER_NOT_FOUND" in missing.stderr


def test_cli_revoke_disable_and_reset_close_live_sockets_within_seconds(fresh_server):
    srv = fresh_server()
    kim, lee, park = register_and_login(srv), register_and_login(srv), register_and_login(srv)
    kim_sock, lee_sock, park_sock = Socket(srv.url, kim.token), Socket(srv.url, lee.token), Socket(srv.url, park.token)
    assert cli_process(srv, "revoke-device", str(kim.device_session_id)).returncode == 0
    assert wait_closed(kim_sock)["reason"] == "revoked"
    assert cli(srv, "disable", lee.user["username"]).returncode == 0
    assert wait_closed(lee_sock)["reason"] == "account_disabled"
    browser = srv.api()
    assert browser.post("/api/login", json={"username": park.user["username"], "password": PASSWORD}).status_code == 200
    park_browser_sock = Socket(srv.url, None, headers={"Cookie": f"messenger_session={browser.cookies['messenger_session']}"})
    assert cli(srv, "reset-password", park.user["username"]).returncode == 0
    assert wait_closed(park_sock)["reason"] == "revoked"
    assert wait_closed(park_browser_sock)["reason"] == "session_ended"  # the cookie's epoch is old now
    again = cli(srv, "revoke-device", str(kim.device_session_id))
    assert again.returncode == 1 and "DEVICE_SESSION_NOT_FOUND" in again.stderr


def test_cli_keeps_the_last_platform_admin(fresh_server):
    srv = fresh_server()
    for args in (["disable", "admin"], ["delete-user", "admin", "--yes"]):
        refused = cli(srv, *args)
        assert refused.returncode == 1 and "LAST_PLATFORM_ADMIN" in refused.stderr
    assert login(srv, "admin", srv.first_admin_password).get("/api/me").status_code == 200
    assert cli(srv, "create-user", "second_admin", "--admin", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    assert cli(srv, "disable", "admin").returncode == 0
    assert cli(srv, "disable", "second_admin").returncode == 1


def test_cli_refuses_a_folder_without_a_server_database(tmp_path):
    result = subprocess.run([sys.executable, "-m", "messenger", "admin", "--data-dir", str(tmp_path / "typo"),
                             "list-users"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "NO_DATABASE" in result.stderr
    assert not (tmp_path / "typo" / "messenger.db").exists()
