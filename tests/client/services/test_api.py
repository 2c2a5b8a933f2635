"""ApiClient against a real server: sign in, rotation, restore, sign out, and the REST calls."""

import http.server
import threading

import pytest
from client_kit import new_account

from harness import PASSWORD
from messenger.client.services.api import ApiClient, ServerRefused as ApiError, ServerUnreachable, local_server


def server_sees(server, token: str) -> int:
    """The status /api/me answers for `token` (200 alive, 401 dead)."""
    return server.api(token).get("/api/me").status_code


def test_sign_in_saves_the_token_and_the_last_account(server, file_store):
    name = new_account(server)
    api = ApiClient(server.url + "/", file_store)
    user = api.sign_in(name, PASSWORD, device_name="회계팀 PC")
    assert user["username"] == name
    assert api.me()["id"] == user["id"]
    assert file_store.load_token(server.url, name) == api.token
    assert file_store.last_account().username == name
    sessions = api.device_sessions()
    assert [s["device_name"] for s in sessions if s["is_current"]] == ["회계팀 PC"]


def test_sign_in_without_remember_keeps_the_token_in_memory_only(server, file_store):
    name = new_account(server)
    api = ApiClient(server.url, file_store)
    api.sign_in(name, PASSWORD, remember=False)
    assert server_sees(server, api.token) == 200
    assert file_store.load_token(server.url, name) is None
    assert ApiClient(server.url, file_store).restore() is None


def test_refresh_rotates_and_persists_the_new_token(server, file_store, clients):
    api = clients(store=file_store)
    old = api.token
    user = api.refresh()
    assert user["id"] == api.user["id"]
    assert api.token != old
    assert server_sees(server, old) == 401
    assert server_sees(server, api.token) == 200
    assert file_store.load_token(server.url, user["username"]) == api.token


def test_restore_resumes_the_saved_session_with_a_rotated_token(server, file_store, clients):
    first = clients(store=file_store)
    saved = first.token
    second = ApiClient(server.url, file_store)
    user = second.restore()
    assert user["id"] == first.user["id"]
    assert second.token not in (None, saved)
    assert server_sees(server, saved) == 401
    assert file_store.load_token(server.url, user["username"]) == second.token
    assert second.rooms() == []


def test_restore_with_a_revoked_token_forgets_it(server, file_store, clients):
    api = clients(store=file_store)
    other_device = clients(api.user["username"])
    other_device.revoke_device_session(next(s["id"] for s in other_device.device_sessions() if not s["is_current"]))
    fresh = ApiClient(server.url, file_store)
    assert fresh.restore() is None
    assert fresh.token is None
    assert file_store.load_token(server.url, api.user["username"]) is None


def test_restore_needs_a_last_account_of_this_server(server, file_store, clients):
    assert ApiClient(server.url, file_store).restore() is None
    clients(store=file_store)
    assert ApiClient("http://127.0.0.1:9", file_store).restore() is None
    assert ApiClient(server.url, None).restore() is None


def test_restore_while_the_server_is_down_keeps_the_token(fresh_server, file_store, clients):
    box = fresh_server()
    api = clients(on=box, store=file_store)
    name, token = api.user["username"], api.token
    box.stop()
    with pytest.raises(ServerUnreachable):
        ApiClient(box.url, file_store).restore()
    assert file_store.load_token(box.url, name) == token


def test_sign_out_revokes_on_the_server_and_forgets_here(server, file_store, clients):
    api = clients(store=file_store)
    token, name = api.token, api.user["username"]
    assert api.sign_out() is True
    assert server_sees(server, token) == 401
    assert api.token is None
    assert file_store.load_token(server.url, name) is None
    assert ApiClient(server.url, file_store).restore() is None
    with pytest.raises(ApiError) as refused:
        api.me()
    assert refused.value.code == "AUTH_REQUIRED"


def test_sign_out_while_unreachable_still_forgets_the_token(fresh_server, file_store, clients):
    box = fresh_server()
    api = clients(on=box, store=file_store)
    name = api.user["username"]
    box.stop()
    assert api.sign_out() is False
    assert file_store.load_token(box.url, name) is None


def test_refusals_carry_code_status_and_the_users_language(server):
    name = new_account(server)
    korean = ApiClient(server.url)
    with pytest.raises(ApiError) as refused:
        korean.sign_in(name, "wrong password!")
    assert (refused.value.code, refused.value.status) == ("AUTH_INVALID_CREDENTIALS", 401)
    assert refused.value.message_localized == "아이디 또는 비밀번호가 올바르지 않습니다."
    english = ApiClient(server.url, language="en-US")
    with pytest.raises(ApiError) as refused:
        english.sign_in(name, "wrong password!")
    assert refused.value.message_localized == "Wrong username or password."


def test_a_server_that_does_not_answer_raises_server_unreachable():
    api = ApiClient("http://127.0.0.1:9", timeout=2)
    with pytest.raises(ServerUnreachable):
        api.health()
    with pytest.raises(ServerUnreachable):
        api.sign_in("kim", PASSWORD)


def test_a_local_server_is_found_where_one_answers_and_only_there(server):
    assert local_server(server.url) == server.url
    assert local_server("http://127.0.0.1:9") is None  # nothing listens
    # Something else that answers HTTP there (here: a static page) is not a messenger server.
    page = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=page.serve_forever, daemon=True).start()
    try:
        assert local_server(f"http://127.0.0.1:{page.server_address[1]}") is None
    finally:
        page.shutdown()
        page.server_close()


def test_a_call_racing_a_rotation_is_retried_with_the_new_token(clients):
    """Refreshes on one thread never make another thread's calls fail as signed out."""
    api = clients()
    failures = []

    def call_me():
        for _ in range(30):
            try:
                api.me()
            except ApiError as exc:
                failures.append(exc.code)

    worker = threading.Thread(target=call_me)
    worker.start()
    for _ in range(10):
        api.refresh()
    worker.join()
    assert failures == []


def test_register_then_sign_in(server):
    api = ApiClient(server.url)
    name = "r" + new_account(server)[1:]
    user = api.register(name, PASSWORD, "새 사용자")
    assert user["nickname"] == "새 사용자"
    assert api.sign_in(name, PASSWORD)["id"] == user["id"]
    with pytest.raises(ApiError) as taken:
        api.register(name, PASSWORD)
    assert taken.value.code == "USERNAME_TAKEN"


def test_profile_and_password_change(server, file_store, clients):
    api = clients(store=file_store)
    assert api.update_profile(status_message="회의 중")["status_message"] == "회의 중"
    assert api.profile()["status_message"] == "회의 중"
    name = api.user["username"]
    api.change_password(PASSWORD, "Another-Long-Password-7")
    assert api.token is None  # every device session ended, this one too
    assert file_store.load_token(server.url, name) is None
    again = ApiClient(server.url)
    assert again.sign_in(name, "Another-Long-Password-7")["username"] == name


def test_rooms_history_edit_delete_and_reactions(clients):
    kim, lee, park = clients(), clients(), clients()
    created = kim.create_room([lee.user["id"], park.user["id"]], "기획팀")
    room_id = created["room_id"]
    assert created["created"] is True
    assert [r["id"] for r in lee.rooms()] == [room_id]
    assert kim.room_info(room_id)["name"] == "기획팀"
    assert kim.is_room_admin(room_id) is True and lee.is_room_admin(room_id) is False
    kim.rename_room(room_id, "기획")
    assert lee.room_info(room_id)["name"] == "기획"
    assert kim.pin_room(room_id, True)["pinned"] is True
    assert kim.mute_room(room_id, True)["muted"] is True
    notice = kim.add_notice(room_id, content="금요일 회식")
    assert [n["id"] for n in lee.notices(room_id)] == [notice["id"]]
    kim.remove_notice(room_id, notice["id"])
    assert lee.notices(room_id) == []
    assert kim.set_room_admin(room_id, lee.user["id"], True) is True
    assert {a["id"] for a in kim.room_admins(room_id)} == {kim.user["id"], lee.user["id"]}
    kim.set_room_admin(room_id, lee.user["id"], False)
    kim.kick(room_id, park.user["id"])
    with pytest.raises(ApiError) as gone:
        park.room_info(room_id)
    assert gone.value.code == "ROOM_NOT_FOUND" and gone.value.status == 404
    lee.leave_room(room_id)
    assert lee.rooms() == []
    assert kim.add_members(room_id, [lee.user["id"]])["added"] == [lee.user["id"]]


def test_history_pages_and_message_changes(clients, sockets):
    kim, lee = clients(), clients()
    room_id = kim.create_room([lee.user["id"]])["room_id"]
    sock = sockets(kim)
    ids = [sock.call("send_message", {"room_id": room_id, "content": f"m{i}", "encrypted": False})["message_id"]
           for i in range(5)]
    newest = lee.messages(room_id, limit=2)
    assert [m["id"] for m in newest["messages"]] == ids[3:] and newest["has_more"] is True
    older = lee.messages(room_id, before_id=ids[3], limit=2)
    assert [m["id"] for m in older["messages"]] == ids[1:3]
    after = lee.messages(room_id, after_id=ids[0], limit=10)
    assert [m["id"] for m in after["messages"]] == ids[1:] and after["has_more"] is False
    kim.edit_message(ids[0], "고침", encrypted=False)
    toggled = lee.toggle_reaction(ids[0], "👍")
    assert toggled["added"] is True
    assert [r["emoji"] for r in kim.reactions(ids[0])] == ["👍"]
    kim.delete_message(ids[1])
    page = {m["id"]: m for m in lee.messages(room_id, limit=10)["messages"]}
    assert page[ids[0]]["content"] == "고침"
    assert page[ids[1]]["content"] == ""
    with pytest.raises(ApiError) as not_yours:
        lee.edit_message(ids[2], "x", encrypted=False)
    assert not_yours.value.code == "MESSAGE_NOT_SENDER"


def test_events_catch_up_after_the_cursor(clients):
    kim, lee = clients(), clients()
    cursor = lee.events_cursor()
    room_id = kim.create_room([lee.user["id"]])["room_id"]
    page = lee.events(cursor)
    assert page["has_more"] is False
    assert all(e["id"] > cursor for e in page["events"])
    assert any(e["event"] == "room_updated" and e["data"]["room_id"] == room_id for e in page["events"])
    assert [e["id"] for e in page["events"]] == sorted(e["id"] for e in page["events"])
    assert page["next_after"] == page["events"][-1]["id"]
    limited = lee.events(cursor, limit=1)
    assert len(limited["events"]) == 1


def test_users_lists_other_people(clients):
    kim, lee = clients(), clients()
    ids = {u["id"] for u in kim.users()}
    assert {kim.user["id"], lee.user["id"]} <= ids
