"""Hypothesis sends every socket event with hostile payloads: each gets an ack in the described shape,
the server keeps running and logs no traceback, and a refusal changes nothing stored.

Payloads are near misses of valid ones (each field valid or hostile: wrong types, ids beyond 64 bits,
other users' rooms and messages, strings of 300,000 characters, deep nesting, unknown keys) and plain
junk in place of the whole object. What is stored is compared through the API before and after each
call. Packets over the server's 1 MB limit are not sent: engine.io closes such a socket instead.
"""

from __future__ import annotations

import pytest
from api_description import check_socket_payload, socket_events
from broken_server import broken_server_command
from harness import ServerProcess, Socket, register_and_login
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from messaging import open_room, text

from messenger.core import protocol

HUGE_ID = 10**30
CLIENT_EVENTS = sorted(socket_events()["client"])


def nested(depth: int):
    value = "x"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


class Office:
    """Alice (who fuzzes) and Bob share a room; Carol and Dave have one Alice is not in."""

    def __init__(self, server: ServerProcess):
        self.server = server
        self.alice, self.bob, self.carol, self.dave = (register_and_login(server) for _ in range(4))
        self.room = open_room(self.alice, self.bob, self.carol, name="ours")
        self.theirs = open_room(self.carol, self.dave, self.bob, name="theirs")
        self.socket = Socket(server.url, self.alice.token)
        bob_socket, carol_socket = Socket(server.url, self.bob.token), Socket(server.url, self.carol.token)
        self.mine = [self.socket.call(protocol.SEND_MESSAGE, text(self.room, f"alice {n}"))["message_id"]
                     for n in range(2)]
        self.bobs = bob_socket.call(protocol.SEND_MESSAGE, text(self.room, "bob"))["message_id"]
        self.hidden = carol_socket.call(protocol.SEND_MESSAGE, text(self.theirs, "carol"))["message_id"]
        bob_socket.close()
        carol_socket.close()

    def snapshot(self) -> list:
        """Everything a socket event can change: messages, read marks, rooms (presence left out)."""
        views = []
        for api, room_id in ((self.alice, self.room), (self.carol, self.theirs)):
            page = api.get(f"/api/rooms/{room_id}/messages", params={"limit": 200, "include_members": 1}).json()
            for member in page["members"]:
                member.pop("status")
            rooms = api.get("/api/rooms").json()["rooms"]
            for room in rooms:
                room.pop("partner", None)
            views.append((page, rooms))
        return views

    def payloads(self, event: str):
        """Hostile payloads for `event`: its own fields, each valid or not, or junk."""
        room_ids = st.sampled_from([self.room, self.room, self.theirs, HUGE_ID, -HUGE_ID, 0, -1, 2**63, 2**63 - 1])
        message_ids = st.sampled_from([*self.mine, *self.mine, self.bobs, self.hidden, HUGE_ID, -1, 0, 2**64])
        hostile = st.one_of(
            st.none(), st.booleans(), st.integers(), st.sampled_from([HUGE_ID, -HUGE_ID, 2**63, 1.5, float("inf")]),
            st.text(max_size=50), st.sampled_from(["x" * 300_000, "\u202e" * 10_000, "\x00", "가" * 10_001]),
            st.sampled_from([nested(50), nested(400), [], {}, {"$where": 1}]),
            st.lists(st.integers(), max_size=5),
        )
        valid = {
            "room_id": room_ids, "message_id": message_ids, "room_ids": st.lists(room_ids, max_size=5),
            "content": st.text(max_size=100), "encrypted": st.booleans(), "is_typing": st.booleans(),
            "type": st.sampled_from(["text", "file", "image", "system"]), "reply_to": message_ids,
            "upload_token": st.text(max_size=70), "client_msg_id": st.text(max_size=70),
        }
        own_fields = sorted(socket_events()["client"][event]["properties"])

        @st.composite
        def near_miss(draw):
            payload = {}
            for name in own_fields:
                if draw(st.integers(0, 9)) < 9:  # mostly present
                    payload[name] = draw(valid[name] if draw(st.integers(0, 2)) else hostile)
            payload.update(draw(st.dictionaries(st.text(max_size=10), hostile, max_size=2)))
            return payload

        return st.one_of(near_miss(), near_miss(), near_miss(), hostile)


def fuzz_events(office: Office, events: list[str], examples: int) -> None:
    """Send a payload each event accepts, then generated ones; raise AssertionError at the first
    broken promise. (The accepted ones make sure that a refusal which writes is caught even when
    the generated payloads happen to miss every valid combination.)"""
    accepted = {protocol.EDIT_MESSAGE: {"room_id": office.room, "message_id": office.mine[0], "content": "edited",
                                        "encrypted": False},
                protocol.TYPING: {"room_id": office.room, "is_typing": True}}
    for event in events:
        if event in accepted:
            send_and_check(office, event, accepted[event])

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data):
        event = data.draw(st.sampled_from(events), label="event")
        send_and_check(office, event, data.draw(office.payloads(event), label="payload"))

    run()


def send_and_check(office: Office, event: str, payload) -> None:
    before = office.snapshot()
    try:
        ack = office.socket.call(event, payload, timeout=15)
    except TimeoutError:
        raise AssertionError(f"{event} got no ack for {str(payload)[:300]}") from None
    problems = check_socket_payload("ack", event, ack)
    assert not problems, f"{event} ack {str(ack)[:300]} breaks the description: {problems}"
    assert ack.get("error_code") != "INTERNAL_ERROR", f"{event} crashed on {str(payload)[:300]}"
    if not ack["ok"]:
        assert office.snapshot() == before, f"{event} refused ({ack['error_code']}) but changed data"


@pytest.fixture
def office(fresh_server):
    office = Office(fresh_server())
    yield office
    office.socket.close()


def test_every_socket_event_survives_hostile_payloads(office):
    fuzz_events(office, CLIENT_EVENTS, examples=250)
    assert office.server.proc.poll() is None
    assert "Traceback" not in "".join(office.server.output)


@pytest.mark.parametrize("broken, event, finding", [
    ("socket_raises", protocol.TYPING, "crashed"),
    ("socket_writes_then_refuses", protocol.EDIT_MESSAGE, "changed data"),
])
def test_the_socket_fuzz_reports_a_handler_broken_on_purpose(tmp_path, broken, event, finding):
    command, env = broken_server_command(broken)
    server = ServerProcess(tmp_path / "data", env=env, command=command, e2e_policy="optional").start()
    office = Office(server)
    try:
        with pytest.raises(AssertionError, match=finding):
            fuzz_events(office, [event], examples=100)
    finally:
        office.socket.close()
        server.stop()
