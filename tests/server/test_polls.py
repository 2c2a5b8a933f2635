"""Polls (contract section 6) against a real server: create, vote, close, `ends_at`, and
anonymous polls that show voters to no one."""

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from messenger.server.actions.polls import expire_polls
from messenger.server.db.models import Poll, Room, RoomEvent, User, utcnow
from messenger.server.extensions import database
from uploading import assert_refused, group


def new_poll(api, room_id, question="점심 메뉴?", options=("김치찌개", "돈까스", "비빔밥"), **extra):
    reply = api.post(f"/api/rooms/{room_id}/polls", json={"question": question, "options": list(options), **extra})
    assert reply.status_code == 201, reply.text
    return reply.json()["poll"]


def vote(api, poll_id, *option_ids):
    return api.post(f"/api/polls/{poll_id}/vote", json={"option_ids": list(option_ids)})


def polls_of(api, room_id):
    reply = api.get(f"/api/rooms/{room_id}/polls")
    assert reply.status_code == 200, reply.text
    return reply.json()["polls"]


def in_future(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


def test_a_new_poll_reaches_the_room_with_every_contract_field(users, sockets):
    alice, bob = users(2)
    room_id = group(alice, bob)
    bob_socket = sockets(bob)
    poll = new_poll(alice, room_id, ends_at=in_future(3600))
    assert set(poll) >= {"id", "room_id", "question", "options", "total_voters", "my_votes", "multiple_choice",
                         "anonymous", "closed", "ends_at", "created_by", "created_at"}
    assert [o["text"] for o in poll["options"]] == ["김치찌개", "돈까스", "비빔밥"]
    assert all(o["vote_count"] == 0 and o["voters"] == [] for o in poll["options"])
    assert poll["my_votes"] == [] and poll["closed"] is False and poll["created_by"] == alice.user["id"]
    event = bob_socket.wait_for("poll_created", lambda d: d["poll"]["id"] == poll["id"])
    assert event["room_id"] == room_id and event["poll"]["question"] == "점심 메뉴?"
    assert [p["id"] for p in polls_of(bob, room_id)] == [poll["id"]]


@pytest.mark.parametrize("body", [
    {"question": "", "options": ["a", "b"]},
    {"question": "   ", "options": ["a", "b"]},
    {"question": "q" * 201, "options": ["a", "b"]},
    {"question": "q", "options": ["only one"]},
    {"question": "q", "options": [str(n) for n in range(11)]},
    {"question": "q", "options": ["a", ""]},
    {"question": "q", "options": ["a", "  "]},
    {"question": "q", "options": ["a", "b" * 101]},
    {"question": "q", "options": ["a", 2]},
    {"question": "q", "options": ["same", "same"]},
    {"question": "q", "options": "a,b"},
    {"question": "q", "options": ["a", "b"], "multiple_choice": "yes"},
    {"question": "q", "options": ["a", "b"], "anonymous": 1},
    {"question": "q", "options": ["a", "b"], "ends_at": "2020-01-01T00:00:00+00:00"},
    {"question": "q", "options": ["a", "b"], "ends_at": "next friday"},
])
def test_a_bad_poll_is_refused_and_nothing_is_created(users, sockets, body):
    alice, bob = users(2)
    room_id = group(alice, bob)
    watcher = sockets(bob)
    assert_refused(alice.post(f"/api/rooms/{room_id}/polls", json=body), 400, "VALIDATION_ERROR")
    assert polls_of(alice, room_id) == []
    assert "poll_created" not in watcher.names()


def test_polls_are_for_room_members_only(users):
    alice, mallory = users(2)
    room_id = group(alice)
    poll = new_poll(alice, room_id)
    assert_refused(mallory.get(f"/api/rooms/{room_id}/polls"), 404, "ROOM_NOT_FOUND")
    assert_refused(mallory.post(f"/api/rooms/{room_id}/polls", json={"question": "q", "options": ["a", "b"]}),
                   404, "ROOM_NOT_FOUND")
    for reply in (mallory.get(f"/api/polls/{poll['id']}"), vote(mallory, poll["id"], poll["options"][0]["id"]),
                  mallory.post(f"/api/polls/{poll['id']}/close")):
        assert_refused(reply, 404, "POLL_NOT_FOUND")
    assert polls_of(alice, room_id)[0]["total_voters"] == 0


def test_a_new_vote_replaces_the_old_one_and_the_room_sees_who_voted(users, sockets):
    alice, bob = users(2)
    room_id = group(alice, bob)
    watcher = sockets(alice)
    poll = new_poll(alice, room_id)
    first, second = poll["options"][0]["id"], poll["options"][1]["id"]
    assert vote(bob, poll["id"], first).json()["poll"]["my_votes"] == [first]
    changed = vote(bob, poll["id"], second).json()["poll"]
    assert changed["my_votes"] == [second] and changed["total_voters"] == 1
    counts = {o["id"]: (o["vote_count"], o["voters"]) for o in changed["options"]}
    assert counts[first] == (0, []) and counts[second] == (1, [bob.user["id"]])
    event = watcher.wait_for("poll_updated", lambda d: d["poll"]["options"][1]["vote_count"] == 1)
    assert event["poll"]["options"][1]["voters"] == [bob.user["id"]] and event["poll"]["my_votes"] is None
    seen_by_alice = polls_of(alice, room_id)[0]
    assert seen_by_alice["my_votes"] == [] and seen_by_alice["options"][1]["voters"] == [bob.user["id"]]


def test_single_choice_takes_exactly_one_option_of_this_poll(users):
    alice, = users(1)
    room_id = group(alice)
    poll, other = new_poll(alice, room_id), new_poll(alice, room_id, question="다른 투표")
    ids = [o["id"] for o in poll["options"]]
    for option_ids in ([], ids[:2], [other["options"][0]["id"]], [999_999_999]):
        assert_refused(vote(alice, poll["id"], *option_ids), 400, "POLL_OPTION_INVALID")
    assert_refused(alice.post(f"/api/polls/{poll['id']}/vote", json={"option_ids": "1"}), 400, "VALIDATION_ERROR")
    assert polls_of(alice, room_id)[1]["total_voters"] == 0  # nothing was counted


def test_multiple_choice_takes_several_options(users):
    alice, bob = users(2)
    room_id = group(alice, bob)
    poll = new_poll(alice, room_id, multiple_choice=True)
    ids = [o["id"] for o in poll["options"]]
    voted = vote(bob, poll["id"], ids[0], ids[2]).json()["poll"]
    assert sorted(voted["my_votes"]) == [ids[0], ids[2]] and voted["total_voters"] == 1
    assert [o["vote_count"] for o in voted["options"]] == [1, 0, 1]
    assert_refused(vote(bob, poll["id"]), 400, "POLL_OPTION_INVALID")


def test_anonymous_polls_show_voters_to_no_one(users, sockets):
    """Not in answers, not in events, not in catch-up, not to the creator or a room admin."""
    admin, bob, carol = users(3)
    room_id = group(admin, bob, carol)
    admin_socket, bob_socket = sockets(admin), sockets(bob)
    cursor = admin.get("/api/events/cursor").json()["cursor"]
    poll = new_poll(admin, room_id, anonymous=True)
    ids = [o["id"] for o in poll["options"]]
    answers = [vote(bob, poll["id"], ids[0]).json()["poll"], vote(carol, poll["id"], ids[1]).json()["poll"],
               admin.post(f"/api/polls/{poll['id']}/close").json()["poll"],
               admin.get(f"/api/polls/{poll['id']}").json()["poll"], polls_of(admin, room_id)[0]]
    events = [admin_socket.wait_for("poll_updated", lambda d: d["poll"]["closed"]),
              bob_socket.wait_for("poll_updated", lambda d: d["poll"]["closed"])]
    catch_up = [e["data"] for e in admin.get("/api/events", params={"after": cursor}).json()["events"]
                if e["event"].startswith("poll_")]
    assert len(catch_up) == 4  # created, two votes, closed
    for shown in answers + [e["poll"] for e in events + catch_up]:
        assert all("voters" not in option for option in shown["options"]), shown
        assert shown["anonymous"] is True
    for event in events + catch_up:  # no voter's id anywhere in what the room receives
        text = json.dumps(event)
        assert f'"user_id": {bob.user["id"]}' not in text and f'"user_id": {carol.user["id"]}' not in text
        assert f'[{bob.user["id"]}]' not in text and f'[{carol.user["id"]}]' not in text
    assert [o["vote_count"] for o in answers[-1]["options"]] == [1, 1, 0]
    assert answers[0]["my_votes"] == [ids[0]] and answers[-1]["my_votes"] == []  # each sees only their own


def test_closing_is_for_the_creator_or_a_room_admin_and_stops_votes(users, sockets):
    admin, alice, bob = users(3)
    room_id = group(admin, alice, bob)
    watcher = sockets(bob)
    by_alice, other = new_poll(alice, room_id), new_poll(alice, room_id, question="둘째")
    assert_refused(bob.post(f"/api/polls/{by_alice['id']}/close"), 403, "POLL_CLOSE_NOT_ALLOWED")
    assert polls_of(bob, by_alice["room_id"])[1]["closed"] is False
    closed = alice.post(f"/api/polls/{by_alice['id']}/close").json()["poll"]
    assert closed["closed"] is True
    assert watcher.wait_for("poll_updated", lambda d: d["poll"]["id"] == by_alice["id"])["poll"]["closed"]
    assert admin.post(f"/api/polls/{other['id']}/close").json()["poll"]["closed"] is True
    watcher.wait_for("poll_updated", lambda d: d["poll"]["id"] == other["id"])
    assert_refused(vote(bob, by_alice["id"], by_alice["options"][0]["id"]), 409, "POLL_CLOSED")
    assert polls_of(bob, room_id)[1]["total_voters"] == 0
    # Closing again changes nothing and tells no one.
    seen = len(watcher.drain(0))
    assert alice.post(f"/api/polls/{by_alice['id']}/close").status_code == 200
    assert "poll_updated" not in [name for name, _ in watcher.drain()[seen:]]


def test_a_poll_past_ends_at_refuses_votes_at_once(users):
    alice, bob = users(2)
    room_id = group(alice, bob)
    poll = new_poll(alice, room_id, ends_at=in_future(1.5))
    option = poll["options"][0]["id"]
    assert vote(bob, poll["id"], option).status_code == 200
    time.sleep(2)  # past ends_at; no job has run
    assert_refused(vote(bob, poll["id"], poll["options"][1]["id"]), 409, "POLL_CLOSED")
    shown = polls_of(bob, room_id)[0]
    assert shown["closed"] is True and shown["my_votes"] == [option]


# --- the expiry job (in this process, on a real data dir) -----------------------------------


def test_expire_polls_stores_the_close_and_tells_the_room_once(app):
    now = utcnow()
    kim = User(username="kim", password_hash="!", nickname="kim")
    database.session.add(kim)
    database.session.flush()
    room = Room(name="room", type="group", created_by=kim.id)
    database.session.add(room)
    database.session.flush()
    ended, running, open_ended = (Poll(room_id=room.id, created_by=kim.id, question=q, ends_at=at)
                                  for q, at in (("ended", now - timedelta(minutes=1)),
                                                ("running", now + timedelta(hours=1)), ("open", None)))
    database.session.add_all([ended, running, open_ended])
    database.session.commit()
    assert expire_polls(now) == 1
    assert expire_polls(now) == 0
    assert [p.question for p in database.session.query(Poll).filter(Poll.closed.is_(True))] == ["ended"]
    [event] = database.session.query(RoomEvent).filter(RoomEvent.name == "poll_updated").all()
    assert event.room_id == room.id and event.payload["poll"]["closed"] is True
