"""Room management in the tray client against a real server: a new conversation from the
user picker (by mouse and from the keyboard alone), room info (invite, admin role, rename,
kick, leave) and room notices, each seen on a second desk."""

from desk_kit import WAIT_MS, activate, open_room, sign_in
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from test_chat import bubble, group_room, say

from messenger.client.ui.models import ITEM_ROLE as USER_ROLE
from messenger.client.ui.room_dialogs import NewRoomDialog
from messenger.core.errors import localized


def click_user(picker, user_id: int) -> None:
    """Click the row of `user_id` in a user picker (it must be shown by the search)."""
    index = picker.shown_index(user_id)
    assert index.isValid()
    picker.view.scrollTo(index)
    QTest.mouseClick(picker.view.viewport(), Qt.MouseButton.LeftButton, pos=picker.view.visualRect(index).center())


def test_a_group_made_in_the_new_conversation_dialog_shows_on_both_desks(server, users, desks, qtbot):
    kim, lee, park = users(3)
    kim_window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    lee_window = sign_in(qtbot, desks.start("lee"), server.url, lee.user["username"])

    dialog = kim_window.new_room()
    qtbot.waitUntil(lambda: dialog.loaded, timeout=WAIT_MS)
    listed = {u["id"] for u in dialog.picker.model.users()}
    assert kim.user["id"] not in listed  # oneself is not offered
    dialog.picker.search.setText(lee.user["username"])
    assert dialog.picker.filtered.rowCount() == 1  # the search narrows the list
    click_user(dialog.picker, lee.user["id"])
    dialog.picker.search.setText(park.user["username"])
    click_user(dialog.picker, park.user["id"])
    dialog.picker.search.clear()
    assert dialog.picker.picked_ids() == sorted([lee.user["id"], park.user["id"]])  # the search kept Lee
    dialog.name.setText("기획팀 Planning")
    with qtbot.waitSignal(dialog.created, timeout=WAIT_MS) as made:
        dialog.ok_button.click()
    room_id = made.args[0]

    qtbot.waitUntil(lambda: kim_window.room_shown(room_id), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: lee_window.rooms.room(room_id) is not None, timeout=WAIT_MS)
    assert lee_window.rooms.room(room_id).title == "기획팀 Planning"
    assert lee_window.rooms.room(room_id).type == "group"


def test_one_person_picked_makes_a_direct_room(server, users, desks, qtbot):
    kim, lee = users(2)
    kim_window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    lee_window = sign_in(qtbot, desks.start("lee"), server.url, lee.user["username"])

    dialog = kim_window.new_room()
    qtbot.waitUntil(lambda: dialog.loaded, timeout=WAIT_MS)
    assert not dialog.ok_button.isEnabled()  # nobody picked yet
    click_user(dialog.picker, lee.user["id"])
    with qtbot.waitSignal(dialog.created, timeout=WAIT_MS) as made:
        dialog.ok_button.click()

    qtbot.waitUntil(lambda: kim_window.room_shown(made.args[0]), timeout=WAIT_MS)  # it opens on Kim's desk
    qtbot.waitUntil(lambda: lee_window.rooms.room(made.args[0]) is not None, timeout=WAIT_MS)
    assert lee_window.rooms.room(made.args[0]).type == "direct"


def test_an_admin_kicks_a_member_and_the_room_leaves_their_list(server, users, desks, qtbot):
    kim, lee, park = users(3)
    room_id = group_room(kim, [lee, park], "Team")
    kim_window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    lee_window = sign_in(qtbot, desks.start("lee"), server.url, lee.user["username"])
    qtbot.waitUntil(lambda: lee_window.rooms.room(room_id) is not None, timeout=WAIT_MS)
    open_room(qtbot, lee_window, room_id)

    info = kim_window.room_info(room_id)
    qtbot.waitUntil(lambda: info.loaded, timeout=WAIT_MS)
    assert info.i_am_admin  # the creator
    assert info.select(lee.user["id"])
    assert info.kick_button.isEnabled()
    info.kick_button.click()

    qtbot.waitUntil(lambda: lee_window.rooms.room(room_id) is None, timeout=WAIT_MS)
    assert lee_window.current_room_id is None  # the open room closed too
    qtbot.waitUntil(lambda: lee.user["id"] not in {m["id"] for m in info.members.users()}, timeout=WAIT_MS)


def test_a_plain_member_cannot_kick_or_grant_admin_and_is_told_why_a_rename_is_refused(server, users, desks, qtbot):
    kim, lee, park = users(3)
    room_id = group_room(kim, [lee, park], "Team")
    lee_window = sign_in(qtbot, desks.start("lee"), server.url, lee.user["username"])

    info = lee_window.room_info(room_id)
    qtbot.waitUntil(lambda: info.loaded, timeout=WAIT_MS)
    assert info.select(park.user["id"])
    assert not info.kick_button.isEnabled()
    assert not info.admin_button.isEnabled()
    assert info.invite_button.isEnabled()  # any member may invite

    info.name.setText("Mine now")
    info.rename_button.click()  # offered in every group: the server says who may
    qtbot.waitUntil(lambda: info.error.text() == localized("ROOM_ADMIN_REQUIRED", "en-US"), timeout=WAIT_MS)


def test_admin_role_rename_and_invite_reach_the_other_desk(server, users, desks, qtbot):
    kim, lee, park, choi = users(4)
    room_id = group_room(kim, [lee, park], "Team")
    kim_window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    lee_window = sign_in(qtbot, desks.start("lee"), server.url, lee.user["username"])
    qtbot.waitUntil(lambda: lee_window.rooms.room(room_id) is not None, timeout=WAIT_MS)
    kim_info = kim_window.room_info(room_id)
    lee_info = lee_window.room_info(room_id)
    qtbot.waitUntil(lambda: kim_info.loaded and lee_info.loaded, timeout=WAIT_MS)
    assert not lee_info.i_am_admin

    kim_info.select(lee.user["id"])
    kim_info.admin_button.click()
    qtbot.waitUntil(lambda: lee_info.i_am_admin, timeout=WAIT_MS)

    lee_info.name.setText("새 이름 New name")
    lee_info.rename_button.click()  # Lee is an admin now
    qtbot.waitUntil(lambda: kim_window.rooms.room(room_id).title == "새 이름 New name", timeout=WAIT_MS)

    invite = kim_info.invite()
    qtbot.waitUntil(lambda: invite.loaded, timeout=WAIT_MS)
    offered = {u["id"] for u in invite.picker.model.users()}
    assert not {kim.user["id"], lee.user["id"], park.user["id"]} & offered  # already in the room
    click_user(invite.picker, choi.user["id"])
    invite.ok_button.click()
    qtbot.waitUntil(lambda: choi.user["id"] in {m["id"] for m in lee_info.members.users()}, timeout=WAIT_MS)


def test_leaving_a_group_from_room_info_removes_it(server, users, desks, qtbot):
    kim, lee, park = users(3)
    room_id = group_room(kim, [lee, park], "Team")
    lee_window = sign_in(qtbot, desks.start("lee"), server.url, lee.user["username"])
    qtbot.waitUntil(lambda: lee_window.rooms.room(room_id) is not None, timeout=WAIT_MS)

    info = lee_window.room_info(room_id)
    qtbot.waitUntil(lambda: info.loaded, timeout=WAIT_MS)
    info.leave()

    qtbot.waitUntil(lambda: lee_window.rooms.room(room_id) is None, timeout=WAIT_MS)


def test_a_notice_added_on_one_desk_appears_on_the_other_and_goes_away(server, users, desks, qtbot, sockets):
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Team")  # (two people: a direct room; notices work the same)
    kim_window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    lee_window = sign_in(qtbot, desks.start("lee"), server.url, lee.user["username"])
    kim_notices = kim_window.notices(room_id)
    lee_notices = lee_window.notices(room_id)
    qtbot.waitUntil(lambda: kim_notices.loaded and lee_notices.loaded, timeout=WAIT_MS)

    kim_notices.text.setText("금요일 회의 Friday meeting")
    kim_notices.add_button.click()
    qtbot.waitUntil(lambda: [n["content"] for n in lee_notices.model.notices()] == ["금요일 회의 Friday meeting"],
                    timeout=WAIT_MS)

    # A message pinned from its context menu is a notice too.
    say(sockets(lee), room_id, "pin me")
    open_room(qtbot, kim_window, room_id)
    qtbot.waitUntil(lambda: bubble(kim_window, "pin me") is not None, timeout=WAIT_MS)
    menu = kim_window.message_menu(bubble(kim_window, "pin me"))
    pin = next(a for a in menu.actions() if a.text() == "Pin as notice")
    pin.trigger()
    qtbot.waitUntil(lambda: len(lee_notices.model.notices()) == 2, timeout=WAIT_MS)
    assert lee_notices.model.notices()[0]["message"]["content"] == "pin me"

    notice_id = lee_notices.model.notices()[1]["id"]
    assert lee_notices.select(notice_id)
    lee_notices.remove_button.click()
    qtbot.waitUntil(lambda: notice_id not in {n["id"] for n in kim_notices.model.notices()}, timeout=WAIT_MS)


def press(key, text: str = "", modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key press where a person's would land: on the widget that has the focus."""
    widget = QApplication.focusWidget()
    assert widget is not None
    if text:
        QTest.keyClicks(widget, text)
    else:
        QTest.keyClick(widget, key, modifier)


def new_room_dialog(qtbot, window) -> NewRoomDialog:
    """Ctrl+N in the main window; the picker it opens, loaded, its search field focused."""
    activate(qtbot, window)
    QTest.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), NewRoomDialog), timeout=WAIT_MS)
    dialog = QApplication.activeModalWidget()
    qtbot.waitUntil(lambda: dialog.loaded and dialog.picker.search.hasFocus(), timeout=WAIT_MS)
    return dialog


def test_a_new_conversation_button_with_an_icon_and_ctrl_n(server, users, desks, qtbot):
    kim, = users(1)
    window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    button = window.new_room_button
    assert button.isVisible() and not button.icon().isNull()
    assert button.toolTip() == "New conversation (Ctrl+N)"
    with qtbot.waitSignal(window.new_room_action.triggered, timeout=WAIT_MS):
        QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), NewRoomDialog), timeout=WAIT_MS)
    QApplication.activeModalWidget().reject()

    dialog = new_room_dialog(qtbot, window)
    press(Qt.Key.Key_Escape)  # Esc closes it, from the search field
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT_MS)


def test_the_user_picker_is_used_from_the_keyboard_alone(server, users, desks, qtbot):
    kim, lee, park = users(3)
    window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])

    # A group: Enter picks the match typed, Down goes into the list, Space picks there.
    dialog = new_room_dialog(qtbot, window)
    press(None, lee.user["username"])
    press(Qt.Key.Key_Return)
    assert dialog.picker.picked_ids() == [lee.user["id"]]
    assert dialog.picker.search.text() == "" and dialog.picker.search.hasFocus()  # ready for the next name
    press(None, park.user["username"])
    press(Qt.Key.Key_Down)
    assert dialog.picker.view.hasFocus()
    assert dialog.picker.view.currentIndex().data(USER_ROLE)["id"] == park.user["id"]
    press(Qt.Key.Key_Space)
    assert dialog.picker.search.text() == park.user["username"]  # the space went to the list
    assert dialog.picker.picked_ids() == sorted([lee.user["id"], park.user["id"]])
    press(Qt.Key.Key_Space)  # and again: unpicked
    assert dialog.picker.picked_ids() == [lee.user["id"]]
    press(Qt.Key.Key_Space)
    with qtbot.waitSignal(dialog.created, timeout=WAIT_MS) as made:
        press(Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.rooms.room(made.args[0]) is not None, timeout=WAIT_MS)
    assert window.rooms.room(made.args[0]).type == "group" and window.rooms.room(made.args[0]).member_count == 3

    # A direct room: the name, Enter to pick, Enter to start.
    dialog = new_room_dialog(qtbot, window)
    press(None, lee.user["username"])
    press(Qt.Key.Key_Return)
    press(None, "nobody-has-this-name")
    press(Qt.Key.Key_Return)  # a name that matches nobody (a typo): nothing picked, nothing started
    assert dialog.isVisible() and dialog.picker.picked_ids() == [lee.user["id"]]
    for _ in "nobody-has-this-name":
        press(Qt.Key.Key_Backspace)
    with qtbot.waitSignal(dialog.created, timeout=WAIT_MS) as made:
        press(Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.room_shown(made.args[0]), timeout=WAIT_MS)
    assert window.rooms.room(made.args[0]).type == "direct"
