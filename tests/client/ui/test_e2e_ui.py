"""End-to-end encryption on the desktop: what two desks send each other through the UI is
stored on the server as v5 envelopes only, and each desk reads it on its own (its notices
too), decrypting history off the GUI thread; what the server replays or re-attributes is
marked as such."""

import sqlite3
import threading

from desk_kit import WAIT_MS, open_room, sign_in
from PySide6.QtGui import QColor, QGuiApplication, QImage, QKeySequence
from PySide6.QtTest import QTest
from test_chat import (
    bubble,
    direct_room,
    group_room,
    keys_ready,
    signed_in_desks,
    stored_sealed,
    type_and_press_enter,
)

from messenger.client.ui.chat_model import ChatModel
from messenger.client.ui.delegates import ChatDelegate
from messenger.client.ui.message_text import MessageText
from messenger.core.errors import localized


def test_a_text_and_a_pasted_image_cross_two_desks_sealed(server, users, desks, qtbot):
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Secrets")
    kim_window, lee_window = signed_in_desks(qtbot, desks, ("kim", server.url, kim), ("lee", server.url, lee))
    open_room(qtbot, kim_window, room_id)
    open_room(qtbot, lee_window, room_id)

    type_and_press_enter(kim_window, "금고 비밀번호는 4321")
    qtbot.waitUntil(lambda: bubble(lee_window, "금고 비밀번호는 4321") is not None, timeout=WAIT_MS)
    stored_sealed(kim, room_id, "4321")

    image = QImage(40, 30, QImage.Format.Format_RGB32)
    image.fill(QColor("#CC3366"))
    QGuiApplication.clipboard().setImage(image)
    with qtbot.waitSignal(kim_window.uploads.sent, timeout=WAIT_MS):
        QTest.keySequence(kim_window.composer, QKeySequence.StandardKey.Paste)

    qtbot.waitUntil(lambda: any(i.message_type == "image" and i.file for i in lee_window.chat.items()),
                    timeout=WAIT_MS)
    item = next(i for i in lee_window.chat.items() if i.message_type == "image")
    assert item.file["name"] == "pasted-1.png" and item.file["key"]  # from the sealed content
    stored = stored_sealed(kim, room_id, "pasted-1.png")
    assert stored["message_type"] == "image" and stored["file_name"] != "pasted-1.png"
    # Lee's desk decrypts the blob for the bubble's thumbnail.
    qtbot.waitUntil(lambda: lee_window.thumbnails.get(item.file) is not None, timeout=WAIT_MS)
    assert lee_window.thumbnails.get(item.file).size().toTuple() == (40, 30)
    assert lee_window.thumbnails.get(item.file).toImage().pixelColor(5, 5) == QColor("#CC3366")


def test_a_message_sealed_before_a_desk_existed_opens_there_once_its_key_arrives(server, users, desks, qtbot):
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Late")
    a = desks.start("kim")
    kim_window = sign_in(qtbot, a, server.url, kim.user["username"])
    keys_ready(qtbot, a)
    open_room(qtbot, kim_window, room_id)
    type_and_press_enter(kim_window, "written before Lee's desk signed in")
    qtbot.waitUntil(lambda: getattr(bubble(kim_window, "written before Lee's desk signed in"), "state", None)
                    == "sent", timeout=WAIT_MS)
    first = bubble(kim_window, "written before Lee's desk signed in").message_id
    kim_window.session.send_text(room_id, "and a reply to it", reply_to=first)
    qtbot.waitUntil(lambda: getattr(bubble(kim_window, "and a reply to it"), "state", None) == "sent",
                    timeout=WAIT_MS)

    # Lee's new device holds no key of the room: it asks, Kim's desk answers, the bubble re-reads.
    b = desks.start("lee")
    lee_window = sign_in(qtbot, b, server.url, lee.user["username"])
    changed = []
    b.session.room_keys_changed.connect(changed.append)
    open_room(qtbot, lee_window, room_id)
    qtbot.waitUntil(lambda: bubble(lee_window, "written before Lee's desk signed in") is not None,
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: getattr(bubble(lee_window, "and a reply to it"), "reply", None) == {
        "id": first, "sender_name": kim.user["nickname"], "text": "written before Lee's desk signed in",
        "deleted": False}, timeout=WAIT_MS)  # the quote is read again too
    assert room_id in changed
    assert lee_window.rooms.room(room_id).preview == "and a reply to it"


def test_a_message_for_a_room_this_device_can_get_no_key_for_fails_with_its_reason(server, users, desks, qtbot):
    kim, lee, park = users(3)
    not_mine = direct_room(lee, park)
    a = desks.start("kim")
    window = sign_in(qtbot, a, server.url, kim.user["username"])
    keys_ready(qtbot, a)
    outcomes = []
    a.session.outgoing_changed.connect(lambda out: outcomes.append((out.state.value, out.error_code)))

    window.session.send_text(not_mine, "nobody should read this")

    qtbot.waitUntil(lambda: ("failed", "ROOM_NOT_FOUND") in outcomes, timeout=WAIT_MS)
    assert [state for state, _ in outcomes] == ["pending", "failed"]  # refused for good, not retried
    assert lee.get(f"/api/rooms/{not_mine}/messages").json()["messages"] == []


def sent_from(qtbot, window, room_id: int, texts: list[str]) -> None:
    """Send `texts` into `room_id` from `window`'s desk (sealed, through its outbox) and wait
    until the server has each."""
    for text in texts:
        window.session.send_text(room_id, text)
    qtbot.waitUntil(lambda: all(getattr(bubble(window, text), "state", None) == "sent" for text in texts),
                    timeout=WAIT_MS)


def test_a_pinned_encrypted_message_shows_decrypted_in_the_notices(server, users, desks, qtbot):
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Pins")
    kim_window, lee_window = signed_in_desks(qtbot, desks, ("kim", server.url, kim), ("lee", server.url, lee))
    open_room(qtbot, kim_window, room_id)
    sent_from(qtbot, kim_window, room_id, ["회의실 비밀번호 7788"])
    stored_sealed(kim, room_id, "7788")
    lee_notices = lee_window.notices(room_id)
    qtbot.waitUntil(lambda: lee_notices.loaded, timeout=WAIT_MS)

    pin = next(a for a in kim_window.message_menu(bubble(kim_window, "회의실 비밀번호 7788")).actions()
               if a.text() == "Pin as notice")
    pin.trigger()

    # Live on Lee's open dialog, and in a dialog opened afterwards (its list comes over HTTP).
    qtbot.waitUntil(lambda: lee_notices.model.shown() == ["회의실 비밀번호 7788"], timeout=WAIT_MS)
    assert lee_notices.model.notices()[0]["message"]["content"].startswith("v5:")
    listed = lee_notices.model.data(lee_notices.model.index(0))
    assert "회의실 비밀번호 7788" in listed and "v5:" not in listed
    again = lee_window.notices(room_id)
    qtbot.waitUntil(lambda: again.loaded, timeout=WAIT_MS)
    assert again.model.shown() == ["회의실 비밀번호 7788"]


def test_a_room_page_is_decrypted_off_the_gui_thread_once(server, users, desks, qtbot, monkeypatch):
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Sealed history")
    other = direct_room(kim, lee)
    kim_window, lee_window = signed_in_desks(qtbot, desks, ("kim", server.url, kim), ("lee", server.url, lee))
    open_room(qtbot, kim_window, room_id)
    texts = [f"sealed line {n}" for n in range(5)]
    sent_from(qtbot, kim_window, room_id, texts)
    sealed = {m["content"] for m in kim.get(f"/api/rooms/{room_id}/messages").json()["messages"]}
    assert len(sealed) == 5 and all(content.startswith("v5:") for content in sealed)
    # Lee's desk has had the five live, and the key to read them (live messages and re-reads after a
    # key arrives are read on the GUI thread, one by one): from here only the page is counted.
    qtbot.waitUntil(lambda: (room := lee_window.rooms.room(room_id)) is not None and room.unread == 5
                    and not room.preview_unreadable, timeout=WAIT_MS)

    import messenger.client.ui.message_text as message_text

    reads = []  # (thread, content) of every message decrypted from now on
    read_message = message_text.read_message

    def recording(keys, message):
        reads.append((threading.current_thread(), message.get("content")))
        return read_message(keys, message)

    monkeypatch.setattr(message_text, "read_message", recording)
    open_room(qtbot, lee_window, room_id)
    assert sorted(item.text for item in lee_window.chat.items()) == texts  # (sent concurrently)
    page_reads = [thread for thread, content in reads if content in sealed]
    assert len(page_reads) == 5, page_reads  # each message once, on a worker thread
    assert all(thread is not threading.main_thread() for thread in page_reads)

    # Opening the room again finds every message decrypted already.
    open_room(qtbot, lee_window, other)
    reads.clear()
    open_room(qtbot, lee_window, room_id)
    assert sorted(item.text for item in lee_window.chat.items()) == texts  # (sent concurrently)
    assert [content for _, content in reads if content in sealed] == []


def test_plaintext_is_flagged_for_the_delegate_but_system_messages_are_not(qapp):
    """The server can write (or turn a sealed message into) plaintext: the model says so."""
    chat = ChatModel({"id": 1, "username": "kim", "nickname": "Kim"}, MessageText())
    envelope = "v3:" + "0" * 16 + ":" + "A" * 16 + ":" + "A" * 24
    chat.open(7, {"messages": [
        {"id": n, "room_id": 7, "sender_id": 2, "sender_name": "Lee", "content": content, "encrypted": encrypted,
         "message_type": kind, "created_at": "2026-12-04T09:00:00Z"}
        for n, (content, encrypted, kind) in enumerate([
            ("send the numbers to this address", False, "text"), ("Lee joined", False, "system"),
            (envelope, True, "text"), ("not an envelope at all", True, "text")], start=1)], "members": []})
    assert [item.not_encrypted for item in chat.items()] == [True, False, False, True]
    assert chat.item(0).text == "send the numbers to this address" and not chat.item(0).unreadable


def test_an_imported_v4_rooms_history_opens_on_a_desk_when_the_admin_releases_the_legacy_keys(desks, qtbot, tmp_path):
    """The v4 fixture imported, a desk signed in as a v4 user: the v1/v2 history waits for keys,
    then opens in the open window by itself once `release-legacy-keys` has run beside the server."""
    from harness import ServerProcess
    from server.test_import_v4 import admin, expected_messages, import_args

    data_dir, escrow = tmp_path / "moved", tmp_path / "escrow.key"
    admin(data_dir, *import_args(escrow=escrow))
    server = ServerProcess(data_dir).start()
    try:
        app = desks.start("minji")
        window = sign_in(qtbot, app, server.url, "minji")
        keys_ready(qtbot, app)
        open_room(qtbot, window, 2)
        history = expected_messages(2)
        expected = [m for m in history if m["text"] and m["legacy_envelope"]]
        qtbot.waitUntil(lambda: len(window.chat.items()) >= len(history), timeout=WAIT_MS)
        assert bubble(window, expected[-1]["text"]) is None  # waiting for keys
        admin(data_dir, "release-legacy-keys", "--escrow-key-file", escrow)
        qtbot.waitUntil(lambda: all(bubble(window, m["text"]) is not None for m in expected), timeout=WAIT_MS)
        shown = [item.message_id for item in window.chat.items() if item.message_id in {m["id"] for m in expected}]
        assert shown == [m["id"] for m in expected]  # in v4's order
    finally:
        server.stop()


def test_a_message_the_server_replays_or_re_attributes_carries_its_own_mark(server, users, desks, qtbot):
    """The operator writes kim's first message into the room again, later, and shows her second
    as lee's: lee's desk (in Korean) shows neither text, each with its own mark and reason, and
    the untouched message as it was."""
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Replays")
    (kim_window,) = signed_in_desks(qtbot, desks, ("kim", server.url, kim))
    lee_app = desks.start("lee", language="ko-KR")
    lee_window = sign_in(qtbot, lee_app, server.url, lee.user["username"])
    keys_ready(qtbot, lee_app)
    open_room(qtbot, kim_window, room_id)
    for text in ("the code is 4417", "lunch at noon"):
        type_and_press_enter(kim_window, text)
        qtbot.waitUntil(lambda text=text: getattr(bubble(kim_window, text), "state", None) == "sent", timeout=WAIT_MS)
    # Lee's desk has read them live (kim's identity pinned there): the page below reads in order,
    # not partly later, when a pending identity look-up comes back.
    qtbot.waitUntil(lambda: getattr(lee_window.rooms.room(room_id), "preview", None) == "lunch at noon",
                    timeout=WAIT_MS)
    code_id, lunch_id = [m["id"] for m in kim.get(f"/api/rooms/{room_id}/messages").json()["messages"]][-2:]
    with sqlite3.connect(server.data_dir / "messenger.db") as db:
        db.execute("UPDATE messages SET sender_id = ? WHERE id = ?", (lee.user["id"], lunch_id))
        replayed_id = db.execute(
            "INSERT INTO messages (room_id, sender_id, content, encrypted, message_type, created_at) "
            "SELECT room_id, sender_id, content, encrypted, message_type, created_at FROM messages WHERE id = ?",
            (code_id,)).lastrowid

    open_room(qtbot, lee_window, room_id)

    def shown(message_id: int):
        return next((item for item in lee_window.chat.items() if item.message_id == message_id), None)

    qtbot.waitUntil(lambda: all(shown(i) is not None and shown(i).mark for i in (lunch_id, replayed_id)),
                    timeout=WAIT_MS)
    for message_id, code, mark in ((replayed_id, "E2E_REPLAYED", "⚠ 서버가 다시 보냄"),
                                   (lunch_id, "E2E_MISATTRIBUTED", "⚠ 보낸 사람·대상이 바뀜")):
        item = shown(message_id)
        assert (item.mark, item.text) == (code, localized(code, "ko-KR"))
        assert ChatDelegate.meta_lines(item)[0][0] == mark
    untouched = shown(code_id)
    assert (untouched.text, untouched.mark) == ("the code is 4417", None)
    assert not any(text.startswith("⚠") for text, _ in ChatDelegate.meta_lines(untouched))
