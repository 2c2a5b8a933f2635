"""Reactions, read marks and typing (contract section 4)."""

import time

import pytest

from harness import Socket, register_and_login
from messaging import history, open_room, text

pytestmark = pytest.mark.contract  # run on SQLite and on PostgreSQL (conftest)


@pytest.fixture
def chat(users, sockets):
    """alice and bob in a room, with sockets, and one message from alice in it."""
    alice, bob = users(2)
    room_id = open_room(alice, bob)
    alice_sock, bob_sock = sockets(alice), sockets(bob)
    message_id = alice_sock.call("send_message", text(room_id, "반응해 주세요"))["message_id"]
    bob_sock.wait_for("new_message")
    return room_id, message_id, (alice, alice_sock), (bob, bob_sock)


def reactions_of(api, message_id):
    reply = api.get(f"/api/messages/{message_id}/reactions")
    assert reply.status_code == 200, reply.text
    return reply.json()["reactions"]


def test_reaction_toggles_and_the_room_sees_each_change(chat):
    room_id, message_id, (alice, alice_sock), (bob, bob_sock) = chat
    added = bob.post(f"/api/messages/{message_id}/reactions", json={"emoji": "❤️"})
    assert added.status_code == 200
    assert added.json()["added"] is True
    assert added.json()["reactions"] == [{"emoji": "❤️", "count": 1, "user_ids": [bob.user["id"]], "me": True}]
    event = alice_sock.wait_for("reaction_updated")
    assert event["message_id"] == message_id and event["room_id"] == room_id and event["event_id"]
    assert event["reactions"] == [{"emoji": "❤️", "count": 1, "user_ids": [bob.user["id"]]}]
    assert reactions_of(alice, message_id)[0]["me"] is False

    removed = bob.post(f"/api/messages/{message_id}/reactions", json={"emoji": "❤️"})
    assert removed.json()["added"] is False and removed.json()["reactions"] == []
    assert alice_sock.wait_for("reaction_updated")["reactions"] == []
    assert reactions_of(bob, message_id) == []


def test_reactions_group_by_emoji_in_first_use_order(chat):
    _, message_id, (alice, _), (bob, _) = chat
    bob.post(f"/api/messages/{message_id}/reactions", json={"emoji": "👍"})
    alice.post(f"/api/messages/{message_id}/reactions", json={"emoji": "😂"})
    alice.post(f"/api/messages/{message_id}/reactions", json={"emoji": "👍"})
    groups = reactions_of(bob, message_id)
    assert [(g["emoji"], g["count"], g["me"]) for g in groups] == [("👍", 2, True), ("😂", 1, False)]
    assert groups[0]["user_ids"] == [bob.user["id"], alice.user["id"]]


def test_bad_reactions_are_refused_and_change_nothing(chat, users):
    room_id, message_id, (alice, alice_sock), (bob, bob_sock) = chat
    (mallory,) = users(1)
    for body in ({}, {"emoji": ""}, {"emoji": "x" * 33}, {"emoji": 5}, {"emoji": ["👍"]}, {"emoji": "   "}):
        reply = bob.post(f"/api/messages/{message_id}/reactions", json=body)
        assert reply.status_code == 400 and reply.json()["error_code"] == "VALIDATION_ERROR", body
    outsider = mallory.post(f"/api/messages/{message_id}/reactions", json={"emoji": "👎"})
    assert outsider.status_code == 404 and outsider.json()["error_code"] == "MESSAGE_NOT_FOUND"
    assert mallory.get(f"/api/messages/{message_id}/reactions").status_code == 404
    assert bob.post("/api/messages/999999999/reactions", json={"emoji": "👍"}).status_code == 404
    assert reactions_of(alice, message_id) == []
    assert "reaction_updated" not in alice_sock.names()


def test_no_reactions_on_a_deleted_message(chat):
    _, message_id, (alice, _), (bob, bob_sock) = chat
    bob.post(f"/api/messages/{message_id}/reactions", json={"emoji": "👍"})
    alice.delete(f"/api/messages/{message_id}")
    bob_sock.wait_for("message_deleted")
    reply = bob.post(f"/api/messages/{message_id}/reactions", json={"emoji": "🔥"})
    assert reply.status_code == 409 and reply.json()["error_code"] == "MESSAGE_DELETED"
    assert reactions_of(bob, message_id) == []  # deleting took its reactions along


def test_read_mark_moves_forward_and_is_broadcast(chat):
    room_id, first, (alice, alice_sock), (bob, bob_sock) = chat
    second = alice_sock.call("send_message", text(room_id, "두 번째"))["message_id"]
    ack = bob_sock.call("message_read", {"room_id": room_id, "message_id": second})
    assert ack == {"ok": True, "room_id": room_id, "message_id": second, "moved": True}
    event = alice_sock.wait_for("read_updated")
    assert (event["room_id"], event["user_id"], event["message_id"]) == (room_id, bob.user["id"], second)
    members = {m["id"]: m for m in history(alice, room_id, include_members=1)["members"]}
    assert members[bob.user["id"]]["last_read_message_id"] == second


def test_read_mark_never_moves_back(chat):
    room_id, first, (alice, alice_sock), (bob, bob_sock) = chat
    second = alice_sock.call("send_message", text(room_id, "두 번째"))["message_id"]
    bob_sock.call("message_read", {"room_id": room_id, "message_id": second})
    alice_sock.wait_for("read_updated")
    for message_id in (first, second):
        ack = bob_sock.call("message_read", {"room_id": room_id, "message_id": message_id})
        assert ack == {"ok": True, "room_id": room_id, "message_id": second, "moved": False}
    assert "read_updated" not in alice_sock.names()
    members = {m["id"]: m for m in history(alice, room_id, include_members=1)["members"]}
    assert members[bob.user["id"]]["last_read_message_id"] == second


def test_bad_read_marks_are_refused_and_change_nothing(chat, users, sockets):
    room_id, message_id, (alice, alice_sock), (bob, bob_sock) = chat
    (mallory,) = users(1)
    other_room = open_room(bob, mallory)
    foreign = bob_sock.call("send_message", text(other_room, "다른 방"))["message_id"]
    cases = [
        ({"room_id": room_id, "message_id": foreign}, "MESSAGE_NOT_FOUND"),
        ({"room_id": room_id, "message_id": 10**12}, "MESSAGE_NOT_FOUND"),
        ({"room_id": room_id, "message_id": True}, "VALIDATION_ERROR"),
        ({"room_id": room_id, "message_id": str(message_id)}, "VALIDATION_ERROR"),
        ({"room_id": room_id}, "VALIDATION_ERROR"),
        ({"room_id": True, "message_id": message_id}, "VALIDATION_ERROR"),
        ({"message_id": message_id}, "VALIDATION_ERROR"),
        ({"room_id": other_room, "message_id": message_id}, "MESSAGE_NOT_FOUND"),
    ]
    for data, code in cases:
        ack = bob_sock.call("message_read", data)
        assert ack["ok"] is False and ack["error_code"] == code, (data, ack)
    outsider = sockets(mallory).call("message_read", {"room_id": room_id, "message_id": message_id})
    assert outsider["error_code"] == "ROOM_NOT_FOUND"
    members = {m["id"]: m for m in history(alice, room_id, include_members=1)["members"]}
    assert members[bob.user["id"]]["last_read_message_id"] == 0
    assert "read_updated" not in alice_sock.names()


def test_typing_reaches_the_others_but_not_the_typing_socket(chat, server, sockets):
    room_id, _, (alice, alice_sock), (bob, bob_sock) = chat
    ack = alice_sock.call("typing", {"room_id": room_id, "is_typing": True})
    assert ack == {"ok": True, "sent": True}
    assert bob_sock.wait_for("user_typing") == {"room_id": room_id, "user_id": alice.user["id"],
                                                "nickname": alice.user["nickname"], "is_typing": True}
    assert "user_typing" not in alice_sock.names()


def test_a_live_socket_follows_its_memberships_and_name_without_reconnecting(chat, users, sockets):
    """What a socket may do is remembered from its connect: a kick, an invitation and a new
    nickname change it at once, with no reconnect (nothing is re-read per event)."""
    room_id, _, (alice, alice_sock), (bob, bob_sock) = chat
    carol, dave = users(2)
    carol_sock = sockets(carol)
    group = open_room(alice, bob, dave, name="group")
    assert carol_sock.call("typing", {"room_id": group, "is_typing": True})["error_code"] == "ROOM_NOT_FOUND"
    assert alice.post(f"/api/rooms/{group}/members", json={"user_ids": [carol.user["id"]]}).status_code == 200
    assert carol_sock.call("typing", {"room_id": group, "is_typing": True}) == {"ok": True, "sent": True}
    assert carol_sock.call("join_room", {"room_id": group})["ok"] is True
    assert bob.put("/api/profile", json={"nickname": "새이름"}).status_code == 200
    bob_sock.call("typing", {"room_id": group, "is_typing": True})
    assert carol_sock.wait_for("user_typing")["nickname"] == "새이름"
    assert alice.delete(f"/api/rooms/{group}/members/{carol.user['id']}").status_code == 200
    for event, data in (("typing", {"room_id": group, "is_typing": False}), ("join_room", {"room_id": group}),
                        ("send_message", text(group))):
        assert carol_sock.call(event, data)["error_code"] == "ROOM_NOT_FOUND", event
    assert carol_sock.call("subscribe_rooms", {"room_ids": [group]}) == {"ok": True, "room_ids": []}


def test_typing_is_throttled_but_a_stop_is_never_dropped(chat):
    """**fix**: a burst of "typing" shows once per window; "stopped" always gets through."""
    room_id, _, (alice, alice_sock), (bob, bob_sock) = chat
    sent = [alice_sock.call("typing", {"room_id": room_id, "is_typing": flag})["sent"]
            for flag in (True, True, True, False, False, True, True)]
    assert sent == [True, False, False, True, True, True, False]
    typing = [data["is_typing"] for name, data in bob_sock.drain() if name == "user_typing"]
    assert typing == [True, False, False, True]


def test_typing_is_not_kept_for_catch_up(chat):
    room_id, _, (alice, alice_sock), (bob, bob_sock) = chat
    cursor = bob.get("/api/events/cursor").json()["cursor"]
    alice_sock.call("typing", {"room_id": room_id, "is_typing": True})
    bob_sock.wait_for("user_typing")
    assert bob.get("/api/events", params={"after": cursor}).json()["events"] == []


def test_bad_typing_is_refused(chat, users, sockets):
    room_id, _, (alice, alice_sock), (bob, bob_sock) = chat
    (mallory,) = users(1)
    for data, code in (({"room_id": room_id}, "VALIDATION_ERROR"), ({"room_id": room_id, "is_typing": "yes"},
                       "VALIDATION_ERROR"), ({"room_id": "1", "is_typing": True}, "VALIDATION_ERROR")):
        assert alice_sock.call("typing", data)["error_code"] == code, data
    outsider = sockets(mallory).call("typing", {"room_id": room_id, "is_typing": True})
    assert outsider["error_code"] == "ROOM_NOT_FOUND"
    assert "user_typing" not in bob_sock.names()


def test_typing_window_comes_from_the_config_and_ends(fresh_server):
    srv = fresh_server(config="typing_throttle_seconds = 0.3\n")
    alice, bob = register_and_login(srv), register_and_login(srv)
    room_id = open_room(alice, bob)
    alice_sock, bob_sock = Socket(srv.url, alice.token), Socket(srv.url, bob.token)
    try:
        typing = {"room_id": room_id, "is_typing": True}
        assert [alice_sock.call("typing", typing)["sent"] for _ in range(2)] == [True, False]
        time.sleep(0.4)  # the window is time itself: nothing to wait on but the clock
        assert alice_sock.call("typing", typing)["sent"] is True
        assert [d["is_typing"] for n, d in bob_sock.drain() if n == "user_typing"] == [True, True]
    finally:
        alice_sock.close()
        bob_sock.close()


@pytest.mark.parametrize("step", [0.01, 0.1])
def test_typing_throttle_memory_stays_bounded(step):
    """Its memory is capped whether the old entries have gone stale (0.1 s apart) or not (0.01 s)."""
    from messenger.server.throttle import TypingThrottle

    now = [0.0]
    throttle = TypingThrottle(clock=lambda: now[0])
    throttle.MAX_ENTRIES = 100
    for user_id in range(1000):
        now[0] += step
        assert throttle.allow(user_id, 1, True, window=2.0)
        assert len(throttle.last_sent) <= throttle.MAX_ENTRIES
    assert throttle.allow(999, 1, True, window=2.0) is False  # the newest is still held back
