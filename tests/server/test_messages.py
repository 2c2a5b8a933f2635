"""Messages over Socket.IO and REST (contract section 4): send, edit, delete, history."""

import threading

import pytest

from harness import Socket, login, register_and_login
from messaging import contents, history, open_room, text

pytestmark = pytest.mark.contract  # run on SQLite and on PostgreSQL (conftest)

CIPHERTEXT_LIMIT = 200_000
PLAINTEXT_LIMIT = 10_000


@pytest.fixture
def trio(users):
    """Three members of one room (alice, bob, carol), each with a connected socket."""
    alice, bob, carol = users(3)
    room_id = open_room(alice, bob, carol)
    return room_id, alice, bob, carol


def test_send_is_acked_and_broadcast_with_the_stored_row(trio, sockets):
    room_id, alice, bob, _ = trio
    alice_sock, bob_sock = sockets(alice), sockets(bob)
    ack = alice_sock.call("send_message", text(room_id, "첫 메시지", client_msg_id="c-1"))
    assert ack["ok"] is True and isinstance(ack["message_id"], int)
    assert "duplicate" not in ack
    seen = bob_sock.wait_for("new_message", lambda m: m["id"] == ack["message_id"])
    assert seen["room_id"] == room_id and seen["sender_id"] == alice.user["id"]
    assert seen["content"] == "첫 메시지" and seen["encrypted"] is False and seen["message_type"] == "text"
    assert seen["client_msg_id"] == "c-1" and seen["reply_to"] is None and seen["reply_preview"] is None
    assert seen["sender_name"] == alice.user["nickname"] and seen["created_at"].endswith("+00:00")
    assert {"file_name", "file_size", "event_id"} <= set(seen)
    stored = history(bob, room_id)["messages"][-1]
    assert stored["id"] == ack["message_id"] and stored["content"] == "첫 메시지"


def test_sender_gets_new_message_on_every_own_socket_and_device(trio, sockets, server):
    """Documented choice: the room broadcast includes the sending socket; clients dedupe by client_msg_id."""
    room_id, alice, _, _ = trio
    laptop = login(server, alice.user["username"], device_name="laptop")
    sending, other_device = sockets(alice), sockets(laptop)
    ack = sending.call("send_message", text(room_id, client_msg_id="own-1"))
    assert other_device.wait_for("new_message")["id"] == ack["message_id"]
    assert sending.wait_for("new_message")["client_msg_id"] == "own-1"


def test_encrypted_ciphertext_up_to_its_limit_is_accepted(trio, sockets):
    room_id, alice, bob, _ = trio
    envelope = "v2:" + "A" * (CIPHERTEXT_LIMIT - 3)
    ack = sockets(alice).call("send_message", {**text(room_id, envelope), "encrypted": True})
    assert ack["ok"] is True
    stored = history(bob, room_id)["messages"][-1]
    assert stored["encrypted"] is True and len(stored["content"]) == CIPHERTEXT_LIMIT


def test_plaintext_up_to_its_limit_is_accepted(trio, sockets):
    room_id, alice, bob, _ = trio
    assert sockets(alice).call("send_message", text(room_id, "가" * PLAINTEXT_LIMIT))["ok"] is True


BAD_SENDS = [
    ({"room_id": None}, "VALIDATION_ERROR"),
    ({"room_id": "{room}"}, "VALIDATION_ERROR"),
    ({"room_id": True}, "VALIDATION_ERROR"),
    ({"room_id": 10**12}, "ROOM_NOT_FOUND"),
    ({"content": None}, "VALIDATION_ERROR"),
    ({"content": 5}, "VALIDATION_ERROR"),
    ({"content": ["x"]}, "VALIDATION_ERROR"),
    ({"content": ""}, "VALIDATION_ERROR"),
    ({"content": " \n\t "}, "VALIDATION_ERROR"),
    ({"content": "x" * (PLAINTEXT_LIMIT + 1)}, "MESSAGE_TOO_LONG"),
    ({"content": "x" * (CIPHERTEXT_LIMIT + 1), "encrypted": True}, "MESSAGE_TOO_LONG"),
    ({"encrypted": None}, "VALIDATION_ERROR"),
    ({"encrypted": "yes"}, "VALIDATION_ERROR"),
    ({"encrypted": 1}, "VALIDATION_ERROR"),
    ({"type": "system"}, "MESSAGE_TYPE_NOT_ALLOWED"),
    ({"type": "video"}, "MESSAGE_TYPE_NOT_ALLOWED"),
    ({"type": 3}, "VALIDATION_ERROR"),
    ({"type": "file", "upload_token": "made-up"}, "UPLOAD_TOKEN_INVALID"),
    ({"type": "image"}, "UPLOAD_TOKEN_INVALID"),
    ({"reply_to": "1"}, "VALIDATION_ERROR"),
    ({"reply_to": True}, "VALIDATION_ERROR"),
    ({"reply_to": 10**12}, "REPLY_NOT_IN_ROOM"),
    ({"reply_to": "{elsewhere}"}, "REPLY_NOT_IN_ROOM"),
    ({"client_msg_id": ""}, "VALIDATION_ERROR"),
    ({"client_msg_id": "x" * 65}, "VALIDATION_ERROR"),
    ({"client_msg_id": 7}, "VALIDATION_ERROR"),
]


def test_bad_sends_get_error_acks_and_change_nothing(trio, sockets):
    room_id, alice, bob, _ = trio
    elsewhere_room = open_room(alice)
    alice_sock, bob_sock = sockets(alice), sockets(bob)
    elsewhere = alice_sock.call("send_message", text(elsewhere_room, "다른 방"))["message_id"]
    marks = {"{room}": str(room_id), "{elsewhere}": elsewhere}
    for change, code in BAD_SENDS:
        payload = text(room_id, client_msg_id="bad-1")
        payload.update({k: marks.get(v, v) if isinstance(v, str) else v for k, v in change.items()})
        payload = {k: v for k, v in payload.items() if v is not None}
        ack = alice_sock.call("send_message", payload)
        assert ack["ok"] is False and ack["error_code"] == code, (change, ack)
        assert ack["message_code"] == code and ack["message_localized"] and ack["locale"] == "ko-KR"
        assert alice_sock.wait_for("error")["message_code"] == code
    assert history(bob, room_id)["messages"] == []
    assert "new_message" not in bob_sock.names()
    # The refused client_msg_id was never taken: it still sends.
    assert "duplicate" not in alice_sock.call("send_message", text(room_id, client_msg_id="bad-1"))


def test_non_object_event_data_is_refused(trio, sockets):
    room_id, alice, _, _ = trio
    alice_sock = sockets(alice)
    for data in (["x"], "text", 5):
        ack = alice_sock.client.call("send_message", data, timeout=10)
        assert ack["ok"] is False and ack["error_code"] == "VALIDATION_ERROR"


def test_outsider_cannot_send_to_a_room(trio, users, sockets):
    room_id, _, bob, _ = trio
    (mallory,) = users(1)
    bob_sock = sockets(bob)
    ack = sockets(mallory).call("send_message", text(room_id, "끼어들기"))
    assert ack["ok"] is False and ack["error_code"] == "ROOM_NOT_FOUND"
    assert history(bob, room_id)["messages"] == []
    assert "new_message" not in bob_sock.names()


def test_client_sent_copies_of_server_events_are_ignored(trio, sockets):
    """**fix**: clients never relay state; only the server emits the canonical events."""
    room_id, alice, bob, _ = trio
    alice_sock, bob_sock = sockets(alice), sockets(bob)
    forged = {"id": 1, "room_id": room_id, "sender_id": bob.user["id"], "content": "위조", "message_id": 1}
    names = ("new_message", "message_edited", "message_deleted", "reaction_updated", "read_updated")
    for name in names:
        alice_sock.client.emit(name, forged)
    alice_sock.call("typing", {"room_id": room_id, "is_typing": False})  # a round trip: the forgeries were read
    bob_sock.wait_for("user_typing")
    assert not set(names) & set(bob_sock.names())
    assert history(bob, room_id)["messages"] == []


def test_reply_carries_a_preview_of_the_answered_message(trio, sockets):
    room_id, alice, bob, _ = trio
    alice_sock, bob_sock = sockets(alice), sockets(bob)
    first = alice_sock.call("send_message", text(room_id, "점심 뭐 먹을까요?"))["message_id"]
    reply = bob_sock.call("send_message", text(room_id, "김치찌개", reply_to=first))["message_id"]
    seen = alice_sock.wait_for("new_message", lambda m: m["id"] == reply)
    assert seen["reply_to"] == first
    assert seen["reply_preview"]["id"] == first and seen["reply_preview"]["content"] == "점심 뭐 먹을까요?"
    assert seen["reply_preview"]["sender_name"] == alice.user["nickname"]
    assert history(alice, room_id)["messages"][-1]["reply_preview"]["id"] == first


def test_repeated_client_msg_id_returns_the_first_message_and_broadcasts_nothing(trio, sockets):
    room_id, alice, bob, _ = trio
    alice_sock, bob_sock = sockets(alice), sockets(bob)
    first = alice_sock.call("send_message", text(room_id, "한 번만", client_msg_id="once"))
    bob_sock.wait_for("new_message", lambda m: m["id"] == first["message_id"])
    again = alice_sock.call("send_message", text(room_id, "한 번만", client_msg_id="once"))
    assert again == {"ok": True, "message_id": first["message_id"], "duplicate": True}
    assert "new_message" not in bob_sock.names()
    assert contents(bob, room_id) == ["한 번만"]


def test_client_msg_id_is_recognised_across_a_reconnect(trio, sockets, server):
    room_id, alice, bob, _ = trio
    first_sock = sockets(alice)
    first = first_sock.call("send_message", text(room_id, client_msg_id="across"))["message_id"]
    first_sock.close()
    other_device = login(server, alice.user["username"], device_name="phone-like desk")
    bob_sock = sockets(bob)
    for api in (alice, other_device):
        again = sockets(api).call("send_message", text(room_id, client_msg_id="across"))
        assert again["message_id"] == first and again["duplicate"] is True
    assert "new_message" not in bob_sock.names()
    assert len(history(bob, room_id)["messages"]) == 1


def test_same_client_msg_id_from_another_sender_or_room_is_a_new_message(trio, sockets):
    room_id, alice, bob, _ = trio
    other_room = open_room(alice, bob)
    alice_sock, bob_sock = sockets(alice), sockets(bob)
    ids = {
        alice_sock.call("send_message", text(room_id, client_msg_id="same"))["message_id"],
        bob_sock.call("send_message", text(room_id, client_msg_id="same"))["message_id"],
        alice_sock.call("send_message", text(other_room, client_msg_id="same"))["message_id"],
    }
    assert len(ids) == 3


def test_racing_resends_of_one_client_msg_id_store_one_message(trio, sockets, server):
    """Several devices of one sender fire the same client_msg_id at once: one row, one id, one broadcast."""
    room_id, alice, bob, _ = trio
    devices = [sockets(login(server, alice.user["username"], device_name=f"desk {i}")) for i in range(4)]
    bob_sock = sockets(bob)
    acks, barrier = [], threading.Barrier(len(devices) * 3)

    def fire(sock):
        barrier.wait()
        acks.append(sock.call("send_message", text(room_id, "경쟁", client_msg_id="race")))

    threads = [threading.Thread(target=fire, args=(s,)) for s in devices for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({a["message_id"] for a in acks}) == 1 and all(a["ok"] for a in acks)
    assert sum(1 for a in acks if not a.get("duplicate")) == 1
    assert contents(bob, room_id) == ["경쟁"]
    assert bob_sock.names(0.5).count("new_message") == 1


def test_one_senders_burst_arrives_in_send_order(trio, sockets):
    """200 sends fired without waiting: acks and new_message follow the send order, ids increase."""
    room_id, alice, bob, _ = trio
    alice_sock, bob_sock = sockets(alice), sockets(bob)
    count = 200
    acks: dict[int, int] = {}
    all_acked = threading.Event()

    def acked(n):
        def record(ack):
            acks[n] = ack["message_id"]
            if len(acks) == count:
                all_acked.set()
        return record

    for n in range(count):
        alice_sock.client.emit("send_message", text(room_id, f"#{n}", client_msg_id=f"burst-{n}"), callback=acked(n))
    assert all_acked.wait(30)
    received = [bob_sock.wait_for("new_message") for _ in range(count)]
    assert [m["content"] for m in received] == [f"#{n}" for n in range(count)]
    ids = [m["id"] for m in received]
    assert ids == sorted(ids) and len(set(ids)) == count
    assert ids == [acks[n] for n in range(count)]


@pytest.fixture
def sent(trio, sockets):
    """A room with one message from alice; alice's and bob's sockets are connected."""
    room_id, alice, bob, carol = trio
    alice_sock, bob_sock = sockets(alice), sockets(bob)
    message_id = alice_sock.call("send_message", text(room_id, "원본", client_msg_id="orig"))["message_id"]
    bob_sock.wait_for("new_message")
    return room_id, message_id, (alice, alice_sock), (bob, bob_sock), carol


def test_sender_edits_over_socket_and_the_room_sees_it(sent):
    room_id, message_id, (alice, alice_sock), (bob, bob_sock), _ = sent
    ack = alice_sock.call("edit_message", {"message_id": message_id, "content": "고침", "encrypted": False})
    assert ack["ok"] is True and ack["message_id"] == message_id and ack["edited_at"]
    event = bob_sock.wait_for("message_edited")
    assert event["message_id"] == message_id and event["room_id"] == room_id
    assert event["content"] == "고침" and event["encrypted"] is False and event["edited_at"] == ack["edited_at"]
    stored = history(bob, room_id)["messages"][-1]
    assert stored["content"] == "고침" and stored["edited_at"] == ack["edited_at"]


def test_edit_over_rest_broadcasts_the_same_event(sent):
    room_id, message_id, (alice, _), (bob, bob_sock), _ = sent
    reply = alice.put(f"/api/messages/{message_id}", json={"content": "v2:abc:def:ghi:jkl", "encrypted": True})
    assert reply.status_code == 200, reply.text
    assert reply.json()["success"] is True and reply.json()["encrypted"] is True
    event = bob_sock.wait_for("message_edited")
    assert event["content"] == "v2:abc:def:ghi:jkl" and event["encrypted"] is True
    assert history(bob, room_id)["messages"][-1]["encrypted"] is True


BAD_EDITS = [
    ({"content": "x", "encrypted": "no"}, "VALIDATION_ERROR"),
    ({"content": 5, "encrypted": False}, "VALIDATION_ERROR"),
    ({"encrypted": False}, "VALIDATION_ERROR"),
    ({"content": "x"}, "VALIDATION_ERROR"),
    ({"content": "", "encrypted": False}, "VALIDATION_ERROR"),
    ({"content": "x" * (PLAINTEXT_LIMIT + 1), "encrypted": False}, "MESSAGE_TOO_LONG"),
    ({"content": "x" * (CIPHERTEXT_LIMIT + 1), "encrypted": True}, "MESSAGE_TOO_LONG"),
]


def test_bad_edits_are_refused_and_change_nothing(sent):
    room_id, message_id, (alice, alice_sock), (bob, bob_sock), _ = sent
    for body, code in BAD_EDITS:
        ack = alice_sock.call("edit_message", {"message_id": message_id, **body})
        assert ack["ok"] is False and ack["error_code"] == code, (body, ack)
        rest = alice.put(f"/api/messages/{message_id}", json=body)
        assert rest.status_code in (400, 413) and rest.json()["error_code"] == code, (body, rest.text)
    for bad_id, code in ((True, "VALIDATION_ERROR"), (str(message_id), "VALIDATION_ERROR"), (None, "VALIDATION_ERROR"),
                         (10**12, "MESSAGE_NOT_FOUND")):
        ack = alice_sock.call("edit_message", {"message_id": bad_id, "content": "x", "encrypted": False})
        assert ack["error_code"] == code, (bad_id, ack)
        assert alice_sock.call("delete_message", {"message_id": bad_id})["error_code"] == code, bad_id
    assert alice.put("/api/messages/999999999", json={"content": "x", "encrypted": False}).status_code == 404
    stored = history(bob, room_id)["messages"]
    assert [(m["content"], m["edited_at"], m["deleted"]) for m in stored] == [("원본", None, False)]
    assert not {"message_edited", "message_deleted"} & set(bob_sock.names())


def test_only_the_sender_may_edit_or_delete(sent, users, sockets):
    room_id, message_id, _, (bob, bob_sock), carol = sent
    (mallory,) = users(1)
    carol_sock, mallory_sock = sockets(carol), sockets(mallory)
    edit = {"message_id": message_id, "content": "가로채기", "encrypted": False}
    assert bob_sock.call("edit_message", edit)["error_code"] == "MESSAGE_NOT_SENDER"
    assert carol_sock.call("delete_message", {"message_id": message_id})["error_code"] == "MESSAGE_NOT_SENDER"
    assert mallory_sock.call("edit_message", edit)["error_code"] == "MESSAGE_NOT_FOUND"
    assert mallory_sock.call("delete_message", {"message_id": message_id})["error_code"] == "MESSAGE_NOT_FOUND"
    assert bob.put(f"/api/messages/{message_id}", json={"content": "x", "encrypted": False}).status_code == 403
    assert bob.delete(f"/api/messages/{message_id}").status_code == 403
    assert mallory.delete(f"/api/messages/{message_id}").status_code == 404
    stored = history(bob, room_id)["messages"][-1]
    assert stored["content"] == "원본" and stored["deleted"] is False and stored["edited_at"] is None
    assert not {"message_edited", "message_deleted"} & set(bob_sock.names())


def test_delete_is_soft_and_blanks_the_content(sent):
    room_id, message_id, (alice, alice_sock), (bob, bob_sock), _ = sent
    ack = alice_sock.call("delete_message", {"message_id": message_id})
    assert ack["ok"] is True and ack["message_id"] == message_id
    assert bob_sock.wait_for("message_deleted") == {"message_id": message_id, "room_id": room_id,
                                                    "event_id": ack["event_id"]}
    stored = history(bob, room_id)["messages"]
    assert [(m["id"], m["deleted"], m["content"]) for m in stored] == [(message_id, True, "")]
    again = alice_sock.call("delete_message", {"message_id": message_id})
    assert again["error_code"] == "MESSAGE_DELETED"
    edit = alice_sock.call("edit_message", {"message_id": message_id, "content": "부활", "encrypted": False})
    assert edit["error_code"] == "MESSAGE_DELETED"
    assert bob_sock.names().count("message_deleted") == 0


def test_delete_over_rest_broadcasts_the_same_event(sent):
    room_id, message_id, (alice, _), (bob, bob_sock), _ = sent
    reply = alice.delete(f"/api/messages/{message_id}")
    assert reply.status_code == 200 and reply.json()["success"] is True
    assert bob_sock.wait_for("message_deleted")["message_id"] == message_id
    assert alice.delete(f"/api/messages/{message_id}").json()["error_code"] == "MESSAGE_DELETED"


def test_reply_to_a_deleted_message_shows_it_deleted(sent):
    room_id, message_id, (alice, alice_sock), (bob, bob_sock), _ = sent
    bob_sock.call("send_message", text(room_id, "답장", reply_to=message_id))
    alice.delete(f"/api/messages/{message_id}")
    preview = history(bob, room_id)["messages"][-1]["reply_preview"]
    assert preview["deleted"] is True and preview["content"] == ""


def _fill(sock, room_id, count):
    return [sock.call("send_message", text(room_id, f"m{n}"))["message_id"] for n in range(count)]


def test_history_pages_back_with_before_id(trio, sockets):
    room_id, alice, bob, _ = trio
    ids = _fill(sockets(alice), room_id, 7)
    newest = history(bob, room_id, limit=3)
    assert [m["id"] for m in newest["messages"]] == ids[-3:] and newest["has_more"] is True
    older = history(bob, room_id, limit=3, before_id=ids[-3])
    assert [m["id"] for m in older["messages"]] == ids[1:4] and older["has_more"] is True
    oldest = history(bob, room_id, limit=3, before_id=ids[1])
    assert [m["id"] for m in oldest["messages"]] == ids[:1] and oldest["has_more"] is False
    assert [m["id"] for m in history(bob, room_id)["messages"]] == ids


def test_history_fills_a_gap_with_after_id(trio, sockets):
    room_id, alice, bob, _ = trio
    ids = _fill(sockets(alice), room_id, 5)
    gap = history(bob, room_id, after_id=ids[0], limit=2)
    assert [m["id"] for m in gap["messages"]] == ids[1:3] and gap["has_more"] is True
    rest = history(bob, room_id, after_id=ids[2], limit=2)
    assert [m["id"] for m in rest["messages"]] == ids[3:] and rest["has_more"] is False
    assert history(bob, room_id, after_id=0)["messages"][0]["id"] == ids[0]


@pytest.mark.parametrize("params", [
    {"limit": 0}, {"limit": 201}, {"limit": "ten"}, {"before_id": "x"}, {"before_id": 0}, {"after_id": -1},
    {"before_id": 5, "after_id": 1},
])
def test_history_refuses_bad_paging(trio, params):
    room_id, alice, _, _ = trio
    reply = alice.get(f"/api/rooms/{room_id}/messages", params=params)
    assert reply.status_code == 400 and reply.json()["error_code"] == "VALIDATION_ERROR"


def test_history_is_for_members_only(trio, users):
    room_id, _, _, _ = trio
    (mallory,) = users(1)
    for path in (f"/api/rooms/{room_id}/messages", "/api/rooms/999999999/messages"):
        reply = mallory.get(path)
        assert reply.status_code == 404 and reply.json()["error_code"] == "ROOM_NOT_FOUND"


def test_history_can_include_members(trio):
    room_id, alice, bob, carol = trio
    body = history(bob, room_id, include_members=1)
    assert {m["id"] for m in body["members"]} == {a.user["id"] for a in (alice, bob, carol)}
    assert "members" not in history(bob, room_id)


def test_history_carries_reactions_and_read_counts(trio, sockets):
    room_id, alice, bob, carol = trio
    alice_sock, bob_sock, carol_sock = sockets(alice), sockets(bob), sockets(carol)
    first, second, third = _fill(alice_sock, room_id, 3)
    bob_sock.call("message_read", {"room_id": room_id, "message_id": third})
    carol_sock.call("message_read", {"room_id": room_id, "message_id": first})
    bob.post(f"/api/messages/{second}/reactions", json={"emoji": "👍"})
    carol.post(f"/api/messages/{second}/reactions", json={"emoji": "👍"})
    page = {m["id"]: m for m in history(bob, room_id)["messages"]}
    assert [page[i]["read_count"] for i in (first, second, third)] == [2, 1, 1]
    assert page[second]["reactions"] == [{"emoji": "👍", "count": 2, "user_ids": [bob.user["id"], carol.user["id"]],
                                          "me": True}]
    assert page[first]["reactions"] == []
    assert history(alice, room_id)["messages"][1]["reactions"][0]["me"] is False


# --- in process: what a black box cannot show ----------------------------------------------


def _people_in_a_room(session, count):
    from messenger.server.db.models import Room, RoomMember, User

    people = [User(username=f"user{i}", password_hash="!", nickname=f"user{i}") for i in range(count)]
    session.add_all(people)
    session.flush()
    room = Room(name="room", type="group", created_by=people[0].id)
    session.add(room)
    session.flush()
    session.add_all(RoomMember(room_id=room.id, user_id=p.id) for p in people)
    session.commit()
    return room, people


def test_history_page_runs_a_constant_number_of_queries(in_process):
    from sqlalchemy import event, select

    from messenger.server.db.models import Message, Reaction, RoomMember, User
    from messenger.server.http.messages import history_page

    session = in_process.session
    room, people = _people_in_a_room(session, 3)

    def add_messages(count):
        for n in range(count):
            quoted = session.scalar(select(Message.id).order_by(Message.id.desc()).limit(1))
            message = Message(room_id=room.id, sender_id=people[n % 3].id, content=f"m{n}", encrypted=False,
                              reply_to=quoted)
            session.add(message)
            session.flush()
            session.add_all(Reaction(message_id=message.id, user_id=p.id, emoji="👍") for p in people[:2])
        session.commit()

    statements = []
    event.listen(in_process.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    def queries_for_page(limit) -> int:
        rows = list(session.scalars(select(Message).order_by(Message.id.desc()).limit(limit)))[::-1]
        members = list(session.execute(select(RoomMember, User).join(User, User.id == RoomMember.user_id)))
        session.expunge_all()  # nothing from the identity map: every lookup would be a query
        rows = [session.merge(r, load=False) for r in rows]
        statements.clear()
        page = history_page(rows, members, people[0].id)
        assert all(m["reactions"][0]["count"] == 2 for m in page)
        assert all(m["reply_preview"] for m in page[1:])
        return len(statements)

    add_messages(4)
    few = queries_for_page(3)  # the oldest on the page answers one before it
    add_messages(60)
    assert queries_for_page(60) == few <= 3


def test_a_client_msg_id_is_looked_up_only_after_the_insert_is_refused(in_process, monkeypatch):
    """The unique constraint settles repeats and races: a new message costs no look-up, a repeat
    rolls back and answers the first row."""
    from sqlalchemy import func, select

    from messenger.server.actions import messages
    from messenger.server.db.models import Message

    session = in_process.session
    room, (alice, _) = _people_in_a_room(session, 2)
    real_lookup, lookups = messages._by_client_msg_id, []

    def counted(*args):
        lookups.append(args)
        return real_lookup(*args)

    monkeypatch.setattr(messages, "_by_client_msg_id", counted)
    first, duplicate = messages.do_send_message(alice, room, "먼저", "text", False, None, "raced")
    assert duplicate is False and lookups == []
    again, duplicate = messages.do_send_message(alice, room, "나중", "text", False, None, "raced")
    assert duplicate is True and again.id == first.id and len(lookups) == 1
    assert session.scalar(select(func.count()).select_from(Message)) == 1


@pytest.mark.parametrize("policy, plaintext_ok", [(None, False), ("optional", True), ("off", True)])
def test_the_e2e_policy_decides_whether_plaintext_is_stored(fresh_server, policy, plaintext_ok):
    """"required" (the default) refuses a plaintext send or edit with nothing stored; a sealed
    message always goes through."""
    srv = fresh_server(e2e_policy=policy)
    alice, bob = register_and_login(srv), register_and_login(srv)
    room_id = open_room(alice, bob)
    sock = Socket(srv.url, alice.token)
    try:
        sealed = sock.call("send_message", {**text(room_id, "v3:1:bm9uY2U:Y2lwaGVy"), "encrypted": True})
        assert sealed["ok"] is True, sealed
        plain = sock.call("send_message", text(room_id, "평문 메시지"))
        edit = sock.call("edit_message", {"message_id": sealed["message_id"], "content": "평문으로 수정",
                                          "encrypted": False})
    finally:
        sock.close()
    assert plain["ok"] is plaintext_ok and edit["ok"] is plaintext_ok, (plain, edit)
    if not plaintext_ok:
        assert plain["error_code"] == edit["error_code"] == "PLAINTEXT_MESSAGE_DISABLED"
        assert contents(alice, room_id) == ["v3:1:bm9uY2U:Y2lwaGVy"]  # nothing stored, nothing changed


@pytest.fixture
def two_processes(fresh_server):
    """Two server processes on one database: the same SQLite file, or the same PostgreSQL
    database (the module runs on both)."""
    first = fresh_server()
    return first, fresh_server(data_dir=first.data_dir)


def test_a_client_msg_id_raced_by_two_processes_is_stored_once(two_processes):
    """No look-up guards the insert: the unique index does, across processes, and the loser
    answers `duplicate: true` with the winner's id (no INTERNAL_ERROR, no second row)."""
    first, second = two_processes
    alice, bob = register_and_login(first), register_and_login(first)
    room_id = open_room(alice, bob, register_and_login(first))
    there = login(second, alice.user["username"], device_name="second desk")
    socks = [Socket(first.url, alice.token), Socket(second.url, there.token)]
    rounds, acks = 20, []
    barrier = threading.Barrier(len(socks))

    def fire(sock):
        for n in range(rounds):
            barrier.wait()
            acks.append((n, sock.call("send_message", text(room_id, f"경쟁 {n}", client_msg_id=f"race-{n}", encrypted=True))))

    threads = [threading.Thread(target=fire, args=(s,)) for s in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in socks:
        s.close()
    assert all(ack["ok"] for _, ack in acks), [ack for _, ack in acks if not ack["ok"]]
    for n in range(rounds):
        mine = [ack for m, ack in acks if m == n]
        assert len({ack["message_id"] for ack in mine}) == 1, mine
        assert [bool(ack.get("duplicate")) for ack in mine].count(False) == 1, mine
    assert contents(bob, room_id) == [f"경쟁 {n}" for n in range(rounds)]
