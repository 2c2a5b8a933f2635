"""Catch-up after a disconnect: a client that comes back gets everything it missed, once, in order."""

import threading

import pytest
from sqlalchemy import create_engine
from sqlalchemy import text as sql

from harness import register_and_login, unique_name
from messaging import leave_room, open_room, text

pytestmark = pytest.mark.contract  # run on SQLite and on PostgreSQL (conftest)


def kept(sock, room_ids, after):
    """The kept (cursor-carrying) events after `after` a live socket saw in `room_ids`, as (event_id, name)."""
    return [(data["event_id"], name) for name, data in sock.drain()
            if isinstance(data, dict) and data.get("event_id", 0) > after and data.get("room_id") in room_ids]


def catch_up(api, after, limit=None):
    """Every event after `after`, following `next_after` page by page."""
    events, pages = [], 0
    while True:
        params = {"after": after} if limit is None else {"after": after, "limit": limit}
        reply = api.get("/api/events", params=params)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        events += body["events"]
        pages += 1
        after = body["next_after"]
        if not body["has_more"]:
            return events, pages


@pytest.fixture
def office(users):
    """alice, bob, carol share room `main`; bob and carol share `side`; carol and dave share `other`."""
    alice, bob, carol, dave = users(4)
    rooms = {"main": open_room(alice, bob, carol), "side": open_room(carol, bob),
             "other": open_room(carol, dave)}
    return rooms, alice, bob, carol, dave


def test_reconnecting_client_gets_every_missed_event_once_in_order(office, sockets):
    rooms, alice, bob, carol, dave = office
    alice_sock, carol_sock, dave_sock = sockets(alice), sockets(carol), sockets(dave)
    bob_sock = sockets(bob)
    seen_live = alice_sock.call("send_message", text(rooms["main"], "before the gap"))["message_id"]
    cursor = bob_sock.wait_for("new_message", lambda m: m["id"] == seen_live)["event_id"]
    bob_sock.close()

    kept_msg = alice_sock.call("send_message", text(rooms["main"], "missed 1"))["message_id"]
    edited = alice_sock.call("send_message", text(rooms["main"], "missed 2"))["message_id"]
    doomed = alice_sock.call("send_message", text(rooms["main"], "비밀: 지워질 내용"))["message_id"]
    alice_sock.call("edit_message", {"message_id": edited, "content": "missed 2, edited", "encrypted": False})
    alice_sock.call("edit_message", {"message_id": doomed, "content": "비밀 수정본", "encrypted": False})
    alice.delete(f"/api/messages/{doomed}")
    carol.post(f"/api/messages/{kept_msg}/reactions", json={"emoji": "👍"})
    carol_sock.call("message_read", {"room_id": rooms["main"], "message_id": edited})
    carol_sock.call("send_message", text(rooms["side"], "side talk"))
    dave_sock.call("send_message", text(rooms["other"], "not bob's business"))
    carol_sock.call("typing", {"room_id": rooms["main"], "is_typing": True})

    expected = kept(carol_sock, {rooms["main"], rooms["side"]}, cursor)
    assert [name for _, name in expected] == [
        "new_message", "new_message", "new_message", "message_edited", "message_edited", "message_deleted",
        "reaction_updated", "read_updated", "new_message"]

    events, _ = catch_up(bob, cursor)
    assert [(e["id"], e["event"]) for e in events] == expected
    assert all(e["data"]["event_id"] == e["id"] and e["room_id"] in rooms.values() for e in events)
    assert [e["data"]["content"] for e in events if e["event"] == "new_message"] == [
        "missed 1", "missed 2", "", "side talk"]  # the deleted message's content is gone
    assert [e["data"]["content"] for e in events if e["event"] == "message_edited"] == ["missed 2, edited", ""]
    assert "비밀" not in str(events)
    paged, pages = catch_up(bob, cursor, limit=2)
    assert paged == events and pages == 5
    assert catch_up(bob, events[-1]["id"])[0] == []


def test_live_events_carry_the_cursor_that_catch_up_continues_from(office, sockets):
    rooms, alice, bob, _, _ = office
    alice_sock, bob_sock = sockets(alice), sockets(bob)
    first = alice_sock.call("send_message", text(rooms["main"], "one"))["message_id"]
    live = bob_sock.wait_for("new_message", lambda m: m["id"] == first)
    second = alice_sock.call("send_message", text(rooms["main"], "two"))["message_id"]
    events, _ = catch_up(bob, live["event_id"])
    assert [(e["event"], e["data"]["id"]) for e in events] == [("new_message", second)]
    assert events[0]["data"] == bob_sock.wait_for("new_message", lambda m: m["id"] == second)


def test_cursor_lets_a_fresh_client_start_at_now(office, sockets):
    rooms, alice, bob, _, _ = office
    alice_sock = sockets(alice)
    alice_sock.call("send_message", text(rooms["main"], "old news"))
    cursor = bob.get("/api/events/cursor").json()["cursor"]
    assert isinstance(cursor, int) and cursor > 0
    assert catch_up(bob, cursor)[0] == []
    new = alice_sock.call("send_message", text(rooms["main"], "fresh"))["message_id"]
    assert [e["data"]["id"] for e in catch_up(bob, cursor)[0]] == [new]


def test_catch_up_covers_the_callers_own_channel_but_not_other_peoples(office, sockets):
    rooms, alice, bob, carol, _ = office
    cursor = bob.get("/api/events/cursor").json()["cursor"]
    bob.put("/api/profile", json={"nickname": "밥새로"})
    carol.put("/api/profile", json={"nickname": "캐롤새로"})
    events, _ = catch_up(bob, cursor)
    bobs = [e for e in events if e["data"]["id"] == bob.user["id"]]
    carols = [e for e in events if e["data"]["id"] == carol.user["id"]]
    assert {e["event"] for e in events} == {"user_profile_updated"}
    assert len(bobs) == 3 and {e["room_id"] for e in bobs} == {None, rooms["main"], rooms["side"]}  # user:bob too
    assert len(carols) == 2 and {e["room_id"] for e in carols} == {rooms["main"], rooms["side"]}  # not user:carol


def test_catch_up_skips_rooms_the_caller_has_left(office, sockets):
    rooms, alice, bob, carol, _ = office
    cursor = bob.get("/api/events/cursor").json()["cursor"]
    carol_sock = sockets(carol)
    carol_sock.call("send_message", text(rooms["side"], "before bob left"))
    leave_room(bob, rooms["side"])
    carol_sock.call("send_message", text(rooms["side"], "after bob left"))
    main = carol_sock.call("send_message", text(rooms["main"], "main room"))["message_id"]
    assert [e["data"].get("id") for e in catch_up(bob, cursor)[0] if e["event"] == "new_message"] == [main]


@pytest.mark.parametrize("params", [{}, {"after": -1}, {"after": "x"}, {"after": 0, "limit": 0},
                                    {"after": 0, "limit": 501}, {"after": 0, "limit": "all"}])
def test_catch_up_refuses_bad_cursors(user, params):
    reply = user.get("/api/events", params=params)
    assert reply.status_code == 400 and reply.json()["error_code"] == "VALIDATION_ERROR"


def test_catch_up_needs_a_signed_in_caller(server):
    for path in ("/api/events?after=0", "/api/events/cursor"):
        assert server.api().get(path).status_code == 401


def test_on_postgresql_the_cursor_never_passes_an_event_that_commits_later(postgres, fresh_server):
    """Ids come from a sequence there: a transaction that drew the lower id and commits last must
    still reach a reader whose cursor moved meanwhile (migration 0006 makes them take turns)."""
    server = fresh_server(env={"MESSENGER_DATABASE_URL": postgres.database(unique_name("events"))})
    alice = register_and_login(server)
    start = alice.get("/api/events/cursor").json()["cursor"]
    engine = create_engine(server.database_url)
    insert = sql("INSERT INTO events (name, user_id, payload, created_at) VALUES (:name, :user_id, '{}', now())")
    try:
        with engine.connect() as slow:
            slow.begin()
            slow.execute(insert, {"name": "drawn_first", "user_id": alice.user["id"]})

            def fast():
                with engine.begin() as connection:
                    connection.execute(insert, {"name": "drawn_second", "user_id": alice.user["id"]})

            second = threading.Thread(target=fast)
            second.start()
            second.join(1.5)  # without turns it has committed by now, ahead of the first
            between = alice.get("/api/events", params={"after": start}).json()  # a catch-up read meanwhile
            slow.commit()
        second.join(10)
        assert not second.is_alive()
        later = alice.get("/api/events", params={"after": between["next_after"]}).json()
        assert [e["event"] for e in between["events"] + later["events"]] == ["drawn_first", "drawn_second"]
    finally:
        engine.dispose()
