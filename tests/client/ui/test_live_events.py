"""LiveEvents without a window: a real server's events, routed onto the room list and the chat."""

from PySide6.QtCore import QObject

from messenger.client.ui.composer import TypingLine
from messenger.client.ui.live_events import LiveEvents
from messenger.client.ui.message_text import MessageText
from messenger.client.ui.chat_model import ChatModel
from messenger.client.ui.room_list import RoomListModel
from messenger.core import protocol


def desk(api, *, in_view=lambda room_id: False):
    """The models of `api`'s user, fed by a LiveEvents, with the room list as the server has it."""
    text, parent = MessageText(), QObject()
    rooms, chat = RoomListModel(api.user["id"], text, parent), ChatModel(api.user, text, parent)
    events = LiveEvents(api.user["id"], rooms, chat, TypingLine(parent), in_view=in_view,
                        following=lambda: False, notifications=lambda: True, parent=parent)
    rooms.reset(api.get("/api/rooms", params={"include_members": "true"}).json()["rooms"])
    return events, parent


def direct_room(alice, bob) -> int:
    reply = alice.post("/api/rooms", json={"member_ids": [bob.user["id"]]})
    assert reply.status_code in (200, 201), reply.text
    return reply.json()["room_id"]


def say(sock, room_id: int, content: str) -> dict:
    """Send a plaintext message; its ack."""
    ack = sock.call(protocol.SEND_MESSAGE, {"room_id": room_id, "content": content, "type": "text",
                                            "encrypted": False})
    assert ack["ok"], ack
    return ack


def test_a_message_in_a_room_out_of_view_counts_unread_and_notifies(users, sockets, qtbot):
    kim, lee = users(2)
    room_id = direct_room(kim, lee)
    kim_sock, lee_sock = sockets(kim), sockets(lee)
    events, _parent = desk(lee)
    say(kim_sock, room_id, "점심 먹었어요?")
    event = lee_sock.wait_for(protocol.NEW_MESSAGE, lambda data: data["room_id"] == room_id)
    with qtbot.waitSignal(events.notify) as notified:
        events.on_event(protocol.NEW_MESSAGE, event)
    assert notified.args == [room_id, kim.user["nickname"], "점심 먹었어요?"]
    assert events.rooms.room(room_id).unread == 1 and events.rooms.unread_total == 1
    assert events.chat.room_id is None and events.chat.rowCount() == 0  # no room is open


def test_changes_that_come_while_a_room_opens_apply_after_its_first_page(users, sockets, qtbot):
    kim, lee = users(2)
    room_id = direct_room(kim, lee)
    kim_sock, lee_sock = sockets(kim), sockets(lee)
    say(kim_sock, room_id, "first")
    lee_sock.wait_for(protocol.NEW_MESSAGE)
    events, _parent = desk(lee, in_view=lambda shown: shown == room_id)
    events.open(room_id)
    page = lee.get(f"/api/rooms/{room_id}/messages", params={"include_members": "true"}).json()
    say(kim_sock, room_id, "second")  # sent after the page was read: it must not be lost
    event = lee_sock.wait_for(protocol.NEW_MESSAGE, lambda data: data["content"] == "second")
    events.on_event(protocol.NEW_MESSAGE, event)
    assert events.chat.rowCount() == 0  # held while the page is on its way
    with qtbot.waitSignal(events.message_added) as added:
        assert events.page_arrived(room_id, page, [])
    assert added.args == [False]  # the user had scrolled up: the view stays where it is
    assert [item.text for item in events.chat.items()] == ["first", "second"]
    assert events.rooms.room(room_id).unread == 1  # "first", from before: "second" came in view
    assert not events.page_arrived(room_id, page, [])  # a second answer for the same room changes nothing


def test_being_removed_from_the_open_room_closes_it(users, sockets, qtbot):
    kim, lee, park = users(3)
    reply = kim.post("/api/rooms", json={"member_ids": [lee.user["id"], park.user["id"]], "name": "팀"})
    room_id = reply.json()["room_id"]
    lee_sock = sockets(lee)
    events, _parent = desk(lee)
    events.open(room_id)
    assert events.page_arrived(room_id, lee.get(f"/api/rooms/{room_id}/messages").json(), [])
    assert kim.delete(f"/api/rooms/{room_id}/members/{lee.user['id']}").status_code == 200
    event = lee_sock.wait_for(protocol.ROOM_UPDATED, lambda data: data.get("action") == "removed")
    with qtbot.waitSignal(events.room_closed):
        events.on_event(protocol.ROOM_UPDATED, event)
    assert events.rooms.room(room_id) is None
