"""Accounts, browser sessions and login security (contract section 2, issue 2 item 7)."""

import pytest

from harness import PASSWORD, Socket, login, register_and_login, unique_name
from messaging import history, open_room, text

pytestmark = pytest.mark.contract  # run on SQLite and on PostgreSQL (conftest)


def register(server, **body):
    return server.api().post("/api/register", json=body)


def test_register_validates_username_password_nickname(server):
    cases = [
        ({"username": "ab", "password": PASSWORD}, "VALIDATION_ERROR"),
        ({"username": "has space", "password": PASSWORD}, "VALIDATION_ERROR"),
        ({"username": "x" * 21, "password": PASSWORD}, "VALIDATION_ERROR"),
        ({"username": unique_name(), "password": "short"}, "PASSWORD_TOO_WEAK"),
        ({"username": unique_name(), "password": 12345678}, "VALIDATION_ERROR"),
        ({"username": unique_name(), "password": PASSWORD, "nickname": "x"}, "VALIDATION_ERROR"),
        ({"password": PASSWORD}, "VALIDATION_ERROR"),
    ]
    for body, code in cases:
        reply = register(server, **body)
        assert reply.status_code == 400, body
        assert reply.json()["error_code"] == code, body


def test_username_is_unique_regardless_of_case(server):
    name = unique_name("Case")
    assert register(server, username=name, password=PASSWORD).status_code == 201
    again = register(server, username=name.lower(), password=PASSWORD)
    assert again.status_code == 409 and again.json()["error_code"] == "USERNAME_TAKEN"


def test_non_json_and_non_object_bodies_are_refused(server):
    api = server.api()
    garbage = api.post("/api/register", content=b"{not json", headers={"Content-Type": "application/json"})
    assert garbage.status_code == 400 and garbage.json()["error_code"] == "INVALID_JSON"
    listed = api.post("/api/register", json=["a", "b"])
    assert listed.json()["error_code"] == "INVALID_JSON"


def test_errors_are_localized_by_header(server):
    api = server.api()
    korean = api.post("/api/device-sessions", json={"username": "nobody_here", "password": "wrong-one"})
    english = api.post("/api/device-sessions", json={"username": "nobody_here", "password": "wrong-one"},
                       headers={"X-App-Language": "en-US"})
    by_accept = api.post("/api/device-sessions", json={"username": "nobody_here", "password": "wrong-one"},
                         headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert korean.json()["locale"] == "ko-KR" and "비밀번호" in korean.json()["error_localized"]
    assert english.json()["locale"] == "en-US" and english.json()["error_localized"] == "Wrong username or password."
    assert by_accept.json()["locale"] == "en-US"
    assert korean.json()["error_code"] == english.json()["error_code"] == "AUTH_INVALID_CREDENTIALS"


def test_unknown_path_answers_json_not_html(server):
    reply = server.api().get("/api/does-not-exist")
    assert reply.status_code == 404
    assert reply.json()["error_code"] == "NOT_FOUND"


def test_oversize_request_is_refused(server, user):
    reply = user.put("/api/profile", json={"status_message": "x" * (2 * 1024 * 1024)})
    assert reply.status_code == 413
    assert reply.json()["error_code"] == "PAYLOAD_TOO_LARGE"
    assert user.get("/api/profile").json()["user"]["status_message"] == ""


def test_password_change_revokes_every_device_and_socket(server):
    api = register_and_login(server)
    other = login(server, api.user["username"], device_name="second desk")
    sock = Socket(server.url, other.token)
    wrong = api.put("/api/me/password", json={"current_password": "not-it-at-all", "new_password": "New-Password-1"})
    assert wrong.status_code == 403 and wrong.json()["error_code"] == "AUTH_WRONG_PASSWORD"
    assert other.get("/api/me").status_code == 200  # a failed change revokes nothing
    reply = api.put("/api/me/password", json={"current_password": PASSWORD, "new_password": "New-Password-1"})
    assert reply.status_code == 200
    assert sock.wait_for("session_revoked")["reason"] == "password_changed"
    assert api.get("/api/me").status_code == 401
    assert other.get("/api/me").status_code == 401
    assert login(server, api.user["username"], "New-Password-1").get("/api/me").status_code == 200
    sock.close()


def test_account_deletion_anonymises_messages_and_removes_the_person(server, sockets):
    alice, bob, carol = register_and_login(server), register_and_login(server), register_and_login(server)
    room_id = open_room(alice, bob, carol, name="팀")
    said = sockets(bob).call("send_message", text(room_id, "곧 퇴사합니다"))
    assert said["ok"] is True
    assert bob.request("DELETE", "/api/me", json={"password": "wrong-password"}).status_code == 403
    reply = bob.request("DELETE", "/api/me", json={"password": PASSWORD})
    assert reply.status_code == 200
    assert bob.get("/api/me").status_code == 401
    names = {u["username"] for u in alice.get("/api/users").json()["users"]}
    assert bob.user["username"] not in names
    kept = [m for m in history(alice, room_id)["messages"] if m["id"] == said["message_id"]]
    assert kept and kept[0]["content"] == "곧 퇴사합니다" and kept[0]["sender_name"] == "(deleted)"
    members = alice.get(f"/api/rooms/{room_id}/info").json()["room"]
    assert bob.user["id"] not in {m["id"] for m in members["members"]}
    again = server.api().post("/api/device-sessions", json={"username": bob.user["username"], "password": PASSWORD})
    assert again.status_code == 401


class TestBrowserSessions:
    """Hybrid mode: cookie sessions with CSRF and origin checks."""

    def browser(self, server, api):
        browser = server.api()
        reply = browser.post("/api/login", json={"username": api.user["username"], "password": PASSWORD})
        assert reply.status_code == 200
        return browser, reply.json()["csrf_token"]

    def test_cookie_login_reads_without_csrf_but_writes_need_it(self, server, user):
        browser, csrf = self.browser(server, user)
        assert browser.get("/api/me").json()["user"]["id"] == user.user["id"]
        refused = browser.put("/api/profile", json={"status_message": "hi"})
        assert refused.status_code == 403 and refused.json()["error_code"] == "CSRF_FAILED"
        ok = browser.put("/api/profile", json={"status_message": "hi"}, headers={"X-CSRFToken": csrf})
        assert ok.status_code == 200

    def test_foreign_origin_is_refused(self, server, user):
        browser, csrf = self.browser(server, user)
        reply = browser.put("/api/profile", json={"status_message": "x"},
                            headers={"X-CSRFToken": csrf, "Origin": "http://evil.example"})
        assert reply.status_code == 403 and reply.json()["error_code"] == "ORIGIN_NOT_ALLOWED"

    def test_password_change_ends_cookie_sessions(self, server):
        api = register_and_login(server)
        browser, _ = self.browser(server, api)
        api.put("/api/me/password", json={"current_password": PASSWORD, "new_password": "Another-Pass-2"})
        assert browser.get("/api/me").status_code == 401

    def test_logout_ends_cookie_session(self, server, user):
        browser, _ = self.browser(server, user)
        browser.post("/api/logout")
        assert browser.get("/api/me").status_code == 401


def test_desktop_only_env_refuses_browser_login_and_cookie_socket(fresh_server):
    srv = fresh_server(env={"DESKTOP_ONLY_MODE": "1"})
    api = register_and_login(srv)
    reply = srv.api().post("/api/login", json={"username": api.user["username"], "password": PASSWORD})
    assert reply.status_code == 403 and reply.json()["error_code"] == "BROWSER_ACCESS_DISABLED"
    assert api.get("/api/me").status_code == 200  # desktop devices are unaffected


def test_login_throttle_answers_429_with_retry_after_and_spares_other_addresses(fresh_server):
    srv = fresh_server(config="login_throttle_per_account = 3\nlogin_throttle_window_seconds = 2\n")
    api = register_and_login(srv)
    name = api.user["username"]
    for _ in range(3):
        assert srv.api().post("/api/device-sessions", json={"username": name, "password": "bad-guess"}).status_code == 401
    blocked = srv.api().post("/api/device-sessions", json={"username": name, "password": PASSWORD})
    assert blocked.status_code == 429
    assert blocked.json()["error_code"] == "RATE_LIMITED"
    assert 1 <= int(blocked.headers["Retry-After"]) <= 2
    import time

    time.sleep(int(blocked.headers["Retry-After"]) + 0.2)  # the window is the behaviour under test
    assert login(srv, name).get("/api/me").status_code == 200


def test_first_run_creates_an_admin_that_can_sign_in(fresh_server):
    srv = fresh_server()
    admin = login(srv, "admin", srv.first_admin_password)
    assert admin.user["is_admin"] is True
    admin.put("/api/me/password", json={"current_password": srv.first_admin_password,
                                         "new_password": "Admin-Password-9"})
    assert not (srv.data_dir / "first-run-admin.txt").exists()


def test_a_sign_in_says_when_the_first_run_password_is_still_in_use(fresh_server):
    srv = fresh_server()
    first = srv.first_admin_password

    def signs_in(username: str, password: str) -> dict:
        reply = srv.api().post("/api/device-sessions", json={"username": username, "password": password})
        assert reply.status_code == 201, reply.text
        return reply.json()

    assert signs_in("admin", first)["password_is_initial"] is True
    admin = login(srv, "admin", first)
    admin.post("/api/admin/users", json={"username": "kim", "password": first, "nickname": "김민수",
                                      "is_admin": True}).raise_for_status()
    assert signs_in("kim", first)["password_is_initial"] is False  # the same words, another account
    admin.put("/api/me/password", json={"current_password": first, "new_password": "Admin-Password-9"})
    assert signs_in("admin", "Admin-Password-9")["password_is_initial"] is False


def test_profile_update_and_image_magic_bytes(server, user):
    reply = user.put("/api/profile", json={"nickname": "홍길동", "status_message": "회의 중"})
    assert reply.json()["user"]["nickname"] == "홍길동"
    fake = user.post("/api/profile/image", files={"file": ("x.png", b"<html>not an image</html>", "image/png")})
    assert fake.status_code == 400 and fake.json()["error_code"] == "IMAGE_INVALID"
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    ok = user.post("/api/profile/image", files={"file": ("avatar.bin", png, "application/octet-stream")})
    assert ok.status_code == 200
    url = ok.json()["user"]["profile_image"]
    image = user.get(url)
    assert image.content == png and image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"
    too_big = user.post("/api/profile/image", files={"file": ("big.png", png + b"\x00" * (6 * 1024 * 1024))})
    assert too_big.status_code == 413
    assert user.get(url).content == png  # the stored image is unchanged


@pytest.mark.parametrize("path", ["/api/me", "/api/users", "/api/device-sessions", "/api/profile"])
def test_every_private_route_needs_a_caller(server, path):
    reply = server.api().get(path)
    assert reply.status_code == 401 and reply.json()["error_code"] == "AUTH_REQUIRED"
