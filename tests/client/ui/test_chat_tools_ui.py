"""The chat's tools against a real server: editing one's message from the menu, the emoji
picker, the "New messages" divider, who is online, and mentions of me."""

from desk_kit import WAIT_MS, activate, open_room, sign_in
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from test_chat import (
    bubble,
    direct_room,
    group_room,
    keys_ready,
    say,
    signed_in_desks,
    stored_sealed,
    type_and_press_enter,
)

from messenger.client.i18n import language
from messenger.client.services.outbox import OutboxState, OutgoingMessage
from messenger.client.ui.emoji import COMMON_EMOJI, REACTIONS
from messenger.client.ui.message_text import MessageText
from messenger.client.ui.chat_model import ChatModel
from messenger.client.ui.models import mentions
from messenger.core.errors import localized


def my_read_mark(api, room_id: int) -> int:
    members = api.get(f"/api/rooms/{room_id}/messages?include_members=1").json()["members"]
    return next(m for m in members if m["id"] == api.user["id"])["last_read_message_id"] or 0


def action(menu, text: str):
    return next(a for a in menu.actions() if a.text() == text)


def test_editing_my_message_from_its_menu_reaches_the_other_desk_sealed(server, users, desks, qtbot):
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Plans")
    kim_window, lee_window = signed_in_desks(qtbot, desks, ("kim", server.url, kim), ("lee", server.url, lee))
    open_room(qtbot, kim_window, room_id)
    open_room(qtbot, lee_window, room_id)
    type_and_press_enter(kim_window, "meet at 3")
    qtbot.waitUntil(lambda: getattr(bubble(kim_window, "meet at 3"), "message_id", None) is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: bubble(lee_window, "meet at 3") is not None, timeout=WAIT_MS)
    assert "Edit" not in [a.text() for a in lee_window.message_menu(bubble(lee_window, "meet at 3")).actions()]

    # Esc leaves the message as it was.
    action(kim_window.message_menu(bubble(kim_window, "meet at 3")), "Edit").trigger()
    assert kim_window.edit_bar.isVisible() and kim_window.composer.toPlainText() == "meet at 3"
    QTest.keyClick(kim_window.composer, Qt.Key.Key_Escape)
    assert not kim_window.edit_bar.isVisible() and kim_window.composer.toPlainText() == ""

    action(kim_window.message_menu(bubble(kim_window, "meet at 3")), "Edit").trigger()
    kim_window.composer.selectAll()
    type_and_press_enter(kim_window, "meet at 4 instead")

    assert not kim_window.edit_bar.isVisible() and kim_window.composer.toPlainText() == ""
    qtbot.waitUntil(lambda: bubble(lee_window, "meet at 4 instead") is not None, timeout=WAIT_MS)
    assert bubble(lee_window, "meet at 4 instead").edited
    qtbot.waitUntil(lambda: getattr(bubble(kim_window, "meet at 4 instead"), "edited", False), timeout=WAIT_MS)
    assert [item.text for item in lee_window.chat.items()] == ["meet at 4 instead"]  # edited in place
    assert lee_window.rooms.room(room_id).preview == "meet at 4 instead"
    stored_sealed(kim, room_id, "meet at 4")


def test_an_emoji_clicked_in_the_picker_goes_into_the_composer(server, users, desks, qtbot):
    kim, lee = users(2)
    dm = direct_room(kim, lee)
    window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    open_room(qtbot, window, dm)
    window.composer.insertPlainText("good job ")

    QTest.mouseClick(window.emoji_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(window.emoji_picker.isVisible, timeout=WAIT_MS)
    party = COMMON_EMOJI.index("🎉")
    QTest.mouseClick(window.emoji_picker.buttons[party], Qt.MouseButton.LeftButton)

    assert window.composer.toPlainText() == "good job 🎉"
    assert not window.emoji_picker.isVisible()
    assert REACTIONS == COMMON_EMOJI[:6]  # the message menu reacts with the same list
    window.composer.clear()
    react = next(a.menu() for a in window.message_menu(_sent(qtbot, window, "hi")).actions() if a.menu())
    assert [a.text() for a in react.actions()] == list(REACTIONS)


def _sent(qtbot, window, text: str):
    type_and_press_enter(window, text)
    qtbot.waitUntil(lambda: getattr(bubble(window, text), "message_id", None) is not None, timeout=WAIT_MS)
    return bubble(window, text)


def test_a_room_with_unread_messages_opens_at_a_new_messages_divider(server, users, sockets, desks, qtbot):
    kim, lee, park = users(3)
    dm = direct_room(kim, lee)
    other = group_room(kim, [lee, park], "Elsewhere")
    lee_socket = sockets(lee)
    for number in range(30):
        say(lee_socket, dm, f"read before {number}")
    window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    activate(qtbot, window)
    open_room(qtbot, window, dm)
    assert window.chat.new_divider_row() == 0  # never read: all of it is new
    newest = window.chat.newest_id()
    qtbot.waitUntil(lambda: my_read_mark(kim, dm) == newest, timeout=WAIT_MS)

    open_room(qtbot, window, other)
    for number in range(20):
        say(lee_socket, dm, f"new {number}")
    qtbot.waitUntil(lambda: window.rooms.room(dm).unread == 20, timeout=WAIT_MS)

    open_room(qtbot, window, dm)
    row = window.chat.new_divider_row()
    assert row is not None and window.chat.item(row).text == "new 0"
    assert [item.text for item in window.chat.items()].count("new 0") == 1
    # The divider row is in view (the newest, far below it, is not).
    divider_rect = window.chat_view.visualRect(window.chat.index(row))
    assert window.chat_view.viewport().rect().intersects(divider_rect)
    bar = window.chat_view.verticalScrollBar()
    assert bar.value() < bar.maximum()
    geometry = window.chat_delegate.geometry(window.chat.index(row), window.chat_view.viewport().width())
    assert geometry.divider_rect is not None
    assert not window.chat_view.viewport().grab().isNull()  # painted, divider and all

    # Read now: opened again, the room has no divider.
    newest = window.chat.newest_id()
    qtbot.waitUntil(lambda: my_read_mark(kim, dm) == newest, timeout=WAIT_MS)
    open_room(qtbot, window, other)
    open_room(qtbot, window, dm)
    assert window.chat.new_divider_row() is None


def test_the_room_list_and_header_show_whether_a_direct_partner_is_online(server, users, desks, qtbot):
    kim, lee = users(2)
    dm = direct_room(kim, lee)
    a, b = desks.start("kim"), desks.start("lee")
    kim_window = sign_in(qtbot, a, server.url, kim.user["username"])
    open_room(qtbot, kim_window, dm)
    assert not kim_window.rooms.room(dm).online
    assert kim_window.room_subtitle.text() == "offline"

    sign_in(qtbot, b, server.url, lee.user["username"])
    keys_ready(qtbot, b)
    qtbot.waitUntil(lambda: kim_window.rooms.room(dm).online, timeout=WAIT_MS)
    assert kim_window.room_subtitle.text() == "online"
    assert not kim_window.room_view.viewport().grab().isNull()  # the dot is painted

    assert any(name.endswith("-keys") for _, name in desks.keyrings["lee"].secrets)
    assert any(name.endswith("#local-data-key") for _, name in desks.keyrings["lee"].secrets)
    b.sign_out()
    qtbot.waitUntil(lambda: not kim_window.rooms.room(dm).online, timeout=WAIT_MS)
    assert kim_window.room_subtitle.text() == "offline"
    # Signing out forgets the device's private keys with its token.
    # ...and the key its local search index was sealed under: what it read is gone from this computer.
    qtbot.waitUntil(lambda: not any(name.endswith(("-keys", "#local-data-key"))
                                    for _, name in desks.keyrings["lee"].secrets), timeout=WAIT_MS)


def test_a_message_naming_me_is_highlighted(server, users, sockets, desks, qtbot):
    kim, lee = users(2)
    team = group_room(kim, [lee], "Team")
    lee_socket = sockets(lee)
    window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    open_room(qtbot, window, team)
    say(lee_socket, team, f"@{kim.user['username']} can you check this?")
    say(lee_socket, team, "no mention here")
    say(lee_socket, team, f"@{kim.user['username']}x is someone else")
    qtbot.waitUntil(lambda: window.chat.rowCount() == 3, timeout=WAIT_MS)
    assert [item.mentions_me for item in window.chat.items()] == [True, False, False]
    assert not window.chat_view.viewport().grab().isNull()
    assert not window.room_view.viewport().grab().isNull()


def test_a_korean_nickname_is_mentioned_with_its_particle_but_a_longer_username_is_someone_else(qapp):
    me = {"id": 1, "username": "kim", "nickname": "김민수"}
    chat = ChatModel(me, MessageText())
    said = ["@김민수님 회의 자료 확인 부탁드려요", "@김민수씨, 내일 봐요", "@김민수가 올린 파일", "@KIM can you check?",
            "@kimx is someone else", "@kim_ too", "@김민수2 다른 사람", "no mention here"]
    chat.open(7, {"messages": [
        {"id": n, "room_id": 7, "sender_id": 2, "sender_name": "Lee", "content": text, "encrypted": False,
         "created_at": "2026-11-29T09:00:00Z"} for n, text in enumerate(said, start=1)], "members": []})
    assert [item.mentions_me for item in chat.items()] == [True, True, True, True, False, False, False, False]
    assert not mentions("@kim님", me)  # a Latin username ends at a word boundary


def test_a_failed_message_says_why_in_its_tooltip(qapp):
    chat = ChatModel({"id": 1, "username": "kim", "nickname": "Kim"}, MessageText())
    chat.open(7, {"messages": [], "members": []})
    failed = OutgoingMessage(1, "c1", 7, "text", "hello", True, None, OutboxState.FAILED, 8, None,
                             "E2E_ROOM_KEY_UNAVAILABLE", 0.0)
    chat.apply_outgoing(failed)
    assert chat.item(0).text == "hello" and chat.item(0).state == "failed"
    assert chat.data(chat.index(0), Qt.ItemDataRole.ToolTipRole) == localized("E2E_ROOM_KEY_UNAVAILABLE", language())
