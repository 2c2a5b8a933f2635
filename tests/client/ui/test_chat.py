"""The main window against a real server: sending through the outbox, live events,
unread badges, notifications, history paging, and a server outage."""

import uuid

from desk_kit import WAIT_MS, activate, open_room, sign_in
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from harness import login, register_and_login
from messenger.core import protocol


def direct_room(api, other) -> int:
    reply = api.post("/api/rooms", json={"member_ids": [other.user["id"]]})
    reply.raise_for_status()
    return reply.json()["room_id"]


def group_room(api, others, name: str) -> int:
    reply = api.post("/api/rooms", json={"member_ids": [o.user["id"] for o in others], "name": name})
    reply.raise_for_status()
    return reply.json()["room_id"]


def say(sock, room_id: int, text: str, **extra) -> int:
    ack = sock.call("send_message", {"room_id": room_id, "content": text, "encrypted": False,
                                     "client_msg_id": uuid.uuid4().hex, **extra})
    assert ack["ok"], ack
    return ack["message_id"]


def bubble(window, text: str):
    """The chat item showing `text`, or None."""
    return next((item for item in window.chat.items() if item.text == text), None)


def keys_ready(qtbot, *apps) -> None:
    """Wait until each desk's end-to-end keys are loaded (so a room key made now is sealed to it)."""
    for app in apps:
        qtbot.waitUntil(lambda app=app: app.session.keys_ready, timeout=WAIT_MS)


def signed_in_desks(qtbot, desks, *seats) -> list:
    """A desk for each (desk name, server url, account), signed in, with its end-to-end keys
    loaded (so a room key made now is sealed to it); their main windows."""
    apps = [desks.start(name) for name, _, _ in seats]
    windows = [sign_in(qtbot, app, url, account.user["username"]) for app, (_, url, account) in zip(apps, seats)]
    keys_ready(qtbot, *apps)
    return windows


def stored_sealed(api, room_id: int, plaintext: str) -> dict:
    """The room's newest stored message, checked to be a v3 envelope that does not show `plaintext`."""
    stored = api.get(f"/api/rooms/{room_id}/messages").json()["messages"][-1]
    assert stored["encrypted"] and stored["content"].startswith("v5:"), stored
    assert plaintext not in stored["content"]
    return stored


def type_and_press_enter(window, text: str) -> None:
    # Hangul arrives committed by the input method (QTest's key clicks know ASCII only).
    window.composer.insertPlainText(text)
    QTest.keyClick(window.composer, Qt.Key.Key_Return)


def test_enter_sends_through_the_outbox_and_the_other_client_sees_it(server, users, desks, qtbot):
    kim, lee, park = users(3)
    dm = direct_room(kim, lee)
    team = group_room(kim, [lee, park], "Team")
    a, b = desks.start("kim"), desks.start("lee")
    kim_window = sign_in(qtbot, a, server.url, kim.user["username"])
    lee_window = sign_in(qtbot, b, server.url, lee.user["username"])
    keys_ready(qtbot, a, b)
    qtbot.waitUntil(lambda: lee_window.rooms.room(dm) is not None, timeout=WAIT_MS)
    open_room(qtbot, lee_window, team)  # Lee looks at another room
    open_room(qtbot, kim_window, dm)
    activate(qtbot, kim_window)
    states = []
    a.session.outgoing_changed.connect(lambda out: states.append(out.state.value))
    notified = []
    b.tray.notified.connect(lambda room_id, title, text: notified.append((room_id, title, text)))

    type_and_press_enter(kim_window, "안녕하세요 Lee")

    assert kim_window.composer.toPlainText() == ""
    qtbot.waitUntil(lambda: bubble(kim_window, "안녕하세요 Lee") is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "sent" in states, timeout=WAIT_MS)
    assert states == ["pending", "sent"]  # shown pending at once, then sent
    sent = bubble(kim_window, "안녕하세요 Lee")
    assert sent.state == "sent"
    assert sent.own and sent.message_id is not None
    assert [item.text for item in kim_window.chat.items()].count("안녕하세요 Lee") == 1  # the echo merged

    # Lee: the DM's badge goes up, the tray says so, and a notification names the sender.
    qtbot.waitUntil(lambda: lee_window.rooms.room(dm).unread == 1, timeout=WAIT_MS)
    assert lee_window.rooms.unread_total == 1
    assert "1" in b.tray.tooltip
    qtbot.waitUntil(lambda: notified != [], timeout=WAIT_MS)  # decrypted on Lee's desk first
    assert notified == [(dm, kim.user["nickname"], "안녕하세요 Lee")]
    assert lee_window.rooms.rooms()[0].room_id == dm  # the room with news goes to the top
    assert lee_window.rooms.room(dm).preview == "안녕하세요 Lee"

    # Lee opens the DM: the message is there under Kim's name, and it counts as read.
    open_room(qtbot, lee_window, dm)
    activate(qtbot, lee_window)
    received = bubble(lee_window, "안녕하세요 Lee")
    assert received is not None and not received.own and received.sender_name == kim.user["nickname"]
    qtbot.waitUntil(lambda: lee_window.rooms.room(dm).unread == 0, timeout=WAIT_MS)
    # Kim sees Lee read it: the "unread by" count on the bubble drops to zero.
    qtbot.waitUntil(lambda: bubble(kim_window, "안녕하세요 Lee").unread_by == 0, timeout=WAIT_MS)
    stored_sealed(kim, dm, "안녕하세요 Lee")  # the server holds only the envelope


def test_shift_enter_makes_a_new_line_and_typing_is_shown_then_cleared_on_send(server, users, desks, qtbot):
    kim, lee = users(2)
    dm = direct_room(kim, lee)
    a, b = desks.start("kim"), desks.start("lee")
    kim_window = sign_in(qtbot, a, server.url, kim.user["username"])
    lee_window = sign_in(qtbot, b, server.url, lee.user["username"])
    open_room(qtbot, lee_window, dm)
    open_room(qtbot, kim_window, dm)

    QTest.keyClicks(kim_window.composer, "first line")
    QTest.keyClick(kim_window.composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    QTest.keyClicks(kim_window.composer, "second")
    assert kim_window.composer.toPlainText() == "first line\nsecond"
    qtbot.waitUntil(lambda: kim.user["nickname"] in lee_window.typing_label.text(), timeout=WAIT_MS)

    QTest.keyClick(kim_window.composer, Qt.Key.Key_Return)

    qtbot.waitUntil(lambda: bubble(lee_window, "first line\nsecond") is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: lee_window.typing_label.text() == "", timeout=WAIT_MS)
    assert not kim_window.typing.typing


def test_live_reactions_edits_replies_and_deletions_show_in_the_open_room(server, users, sockets, desks, qtbot):
    kim, lee = users(2)
    dm = direct_room(kim, lee)
    lee_socket = sockets(lee)
    question = say(lee_socket, dm, "점심 뭐 먹을까요?")
    app = desks.start("kim")
    window = sign_in(qtbot, app, server.url, kim.user["username"])
    open_room(qtbot, window, dm)
    assert bubble(window, "점심 뭐 먹을까요?") is not None

    lee.post(f"/api/messages/{question}/reactions", json={"emoji": "👍"}).raise_for_status()
    kim.post(f"/api/messages/{question}/reactions", json={"emoji": "👍"}).raise_for_status()
    qtbot.waitUntil(lambda: bubble(window, "점심 뭐 먹을까요?").reactions == [
        {"emoji": "👍", "count": 2, "me": True}], timeout=WAIT_MS)

    assert lee_socket.call("edit_message", {"message_id": question, "content": "점심은 국수?",
                                            "encrypted": False})["ok"]
    qtbot.waitUntil(lambda: bubble(window, "점심은 국수?") is not None, timeout=WAIT_MS)
    assert bubble(window, "점심은 국수?").edited
    assert window.rooms.room(dm).preview == "점심은 국수?"

    say(lee_socket, dm, "아니면 김밥", reply_to=question)
    qtbot.waitUntil(lambda: bubble(window, "아니면 김밥") is not None, timeout=WAIT_MS)
    assert bubble(window, "아니면 김밥").reply == {"id": question, "sender_name": lee.user["nickname"],
                                                   "text": "점심은 국수?", "deleted": False}

    assert lee_socket.call("delete_message", {"message_id": question})["ok"]
    qtbot.waitUntil(lambda: window.chat.item(0).deleted, timeout=WAIT_MS)
    assert window.chat.item(0).reactions == [] and window.chat.item(0).text == "This message was deleted."
    assert bubble(window, "아니면 김밥").reply["deleted"]


def test_scrolling_to_the_top_loads_older_history_page_by_page(server, users, sockets, desks, qtbot):
    kim, lee = users(2)
    dm = direct_room(kim, lee)
    lee_socket = sockets(lee)
    first, older = protocol.HISTORY_DEFAULT_LIMIT, protocol.HISTORY_MAX_LIMIT  # 50, then 200 a page
    total = first + older + 30
    for number in range(total):
        say(lee_socket, dm, f"message {number}")
    app = desks.start("kim")
    window = sign_in(qtbot, app, server.url, kim.user["username"])
    open_room(qtbot, window, dm)
    bar = window.chat_view.verticalScrollBar()
    assert window.chat.rowCount() == first and window.chat.has_more
    assert bar.maximum() > 0 and bar.value() == bar.maximum()  # opened at the newest

    bar.setValue(bar.minimum())
    qtbot.waitUntil(lambda: window.chat.rowCount() == first + older, timeout=WAIT_MS)
    assert bar.value() > bar.minimum()  # the message read before stays in place, not jumping to the top
    bar.setValue(bar.minimum())
    qtbot.waitUntil(lambda: window.chat.rowCount() == total, timeout=WAIT_MS)

    assert not window.chat.has_more
    assert [item.text for item in window.chat.items()] == [f"message {n}" for n in range(total)]


def test_a_message_written_while_the_server_is_down_waits_then_goes(fresh_server, relay, desks, qtbot):
    box = fresh_server()
    link = relay(box.url)  # the client talks to the relay, which follows the server to its new port
    kim, lee = register_and_login(box), register_and_login(box)
    dm = direct_room(kim, lee)
    app = desks.start("kim")
    window = sign_in(qtbot, app, link.url, kim.user["username"])
    open_room(qtbot, window, dm)

    link.down()
    box.stop()
    qtbot.waitUntil(lambda: window.connection != "connected", timeout=WAIT_MS)
    assert "Reconnecting" in window.connection_label.text()
    type_and_press_enter(window, "sent while the server was down")
    qtbot.waitUntil(lambda: bubble(window, "sent while the server was down") is not None, timeout=WAIT_MS)
    assert bubble(window, "sent while the server was down").state == "pending"

    box.start()
    link.retarget(box.url)
    link.up()

    qtbot.waitUntil(lambda: window.connection == "connected", timeout=30_000)
    qtbot.waitUntil(lambda: bubble(window, "sent while the server was down").state == "sent", timeout=30_000)
    assert "Connected" in window.connection_label.text()
    lee_api = login(box, lee.user["username"])  # the restarted server's port
    assert len(lee_api.get(f"/api/rooms/{dm}/messages").json()["messages"]) == 1  # once, not twice
    stored_sealed(lee_api, dm, "sent while the server was down")
