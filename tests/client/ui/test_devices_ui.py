"""Verified devices on the desktop: the recovery key shown once on the desk that made the
identity, a second desk of the same user approved from the first by its code (or with the
recovery key), a contact's changed identity compared and trusted, and the plaintext mark."""

import re

from desk_kit import WAIT_MS, open_room, sign_in
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from test_chat import bubble, group_room, keys_ready, say, signed_in_desks, type_and_press_enter

from messenger.client.ui.delegates import ChatDelegate
from messenger.client.ui.devices import RecoverDialog, RecoveryKeyDialog, SafetyNumberDialog
from messenger.core.errors import localized

RECOVERY_KEY = re.compile(r"^(\S{4}  ){3}\S{4}\n(\S{4}  ){3}\S{4}$")


def click(button) -> None:
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


def state_read(qtbot, window) -> dict:
    qtbot.waitUntil(lambda: window.device_banners.state is not None, timeout=WAIT_MS)
    return window.device_banners.state


def first_desk(qtbot, desks, server, account, name="first"):
    """The user's first desk, signed in: it made the identity and says so in a banner, whose
    button opens the recovery key's dialog. Returns (app, window, that dialog)."""
    app = desks.start(name)
    window = sign_in(qtbot, app, server.url, account.user["username"])
    keys_ready(qtbot, app)
    banners = window.device_banners
    qtbot.waitUntil(lambda: banners.device.isVisible()
                    and banners.device.label.text().startswith("Your account's recovery key"), timeout=WAIT_MS)
    click(banners.device.button)
    qtbot.waitUntil(lambda: len(window.findChildren(RecoveryKeyDialog)) == 1, timeout=WAIT_MS)
    dialog = window.findChildren(RecoveryKeyDialog)[0]
    return app, window, dialog


def written_down(qtbot, window, dialog) -> str:
    shown = dialog.key.text()
    assert RECOVERY_KEY.match(shown), shown
    assert not dialog.done_button.isEnabled()
    dialog.reject()  # Esc does not close it before the key is written down
    assert dialog.isVisible()
    click(dialog.copy_button)
    assert QGuiApplication.clipboard().text().split() == shown.split()
    dialog.written.setChecked(True)
    with qtbot.waitSignal(dialog.accepted, timeout=WAIT_MS):
        click(dialog.done_button)
    return shown


def test_the_recovery_key_is_shown_once_on_the_desk_that_made_the_identity(server, users, desks, qtbot):
    (kim,) = users(1)
    app, window, dialog = first_desk(qtbot, desks, server, kim)
    written_down(qtbot, window, dialog)
    banners = window.device_banners
    qtbot.waitUntil(lambda: not banners.device.isVisible(), timeout=WAIT_MS)
    assert banners.show_recovery_key() is None  # kept nowhere once written down
    banners.refresh()
    qtbot.waitUntil(lambda: not banners._reading, timeout=WAIT_MS)
    assert banners.state["recovery_key"] is None and banners.state["verified"]
    assert not banners.device.isVisible()


def test_a_second_desk_is_approved_from_the_first_by_its_code_then_reads_and_sends(server, users, desks, qtbot):
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Two desks")
    app, first, dialog = first_desk(qtbot, desks, server, kim)
    dialog.written.setChecked(True)
    dialog.accept()
    open_room(qtbot, first, room_id)
    type_and_press_enter(first, "written before the second desk")
    qtbot.waitUntil(lambda: getattr(bubble(first, "written before the second desk"), "state", None) == "sent",
                    timeout=WAIT_MS)

    second_app = desks.start("second")
    second = sign_in(qtbot, second_app, server.url, kim.user["username"])
    keys_ready(qtbot, second_app)
    code = state_read(qtbot, second)["code"]
    assert not second.device_banners.state["verified"]
    qtbot.waitUntil(lambda: second.device_banners.device.isVisible(), timeout=WAIT_MS)
    assert second.device_banners.device.label.text() == (
        f"This desk is not verified yet: approve it from another of your desks (code: {code}) "
        "or enter your recovery key.")
    open_room(qtbot, second, room_id)
    assert bubble(second, "written before the second desk") is None  # no key for an unverified desk

    # The first desk hears of it, lists it as waiting in the account dialog and approves it there.
    banners = first.device_banners
    qtbot.waitUntil(lambda: banners.device.isVisible() and "waiting for approval" in banners.device.label.text(),
                    timeout=WAIT_MS)
    account = first.account()
    qtbot.waitUntil(lambda: any("waiting for approval" in row for row in account.key_device_rows()),
                    timeout=WAIT_MS)
    assert sum("verified" in row and "this device" in row for row in account.key_device_rows()) == 1
    account.key_devices.setCurrentRow(next(n for n, row in enumerate(account.key_device_rows())
                                           if "waiting" in row))
    assert account.approve_button.isEnabled()
    approve = account.approve_selected()
    approve.code.setText("11111 22222 33333")
    click(approve.approve_button)
    qtbot.waitUntil(lambda: approve.status.text() == localized("E2E_VERIFICATION_CODE_WRONG", "en-US"),
                    timeout=WAIT_MS)
    assert approve.isVisible()
    approve.code.setText(code)
    with qtbot.waitSignal(approve.accepted, timeout=WAIT_MS):
        click(approve.approve_button)

    qtbot.waitUntil(lambda: not banners.device.isVisible(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not second.device_banners.device.isVisible(), timeout=WAIT_MS)
    assert second.device_banners.state["verified"]
    qtbot.waitUntil(lambda: all("verified" in row and "waiting" not in row for row in account.key_device_rows()),
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: bubble(second, "written before the second desk") is not None, timeout=WAIT_MS)
    type_and_press_enter(second, "sent from the second desk")
    qtbot.waitUntil(lambda: getattr(bubble(second, "sent from the second desk"), "state", None) == "sent",
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: bubble(first, "sent from the second desk") is not None, timeout=WAIT_MS)


def test_a_second_desk_verifies_itself_with_the_recovery_key(server, users, desks, qtbot):
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Recovered")
    app, first, dialog = first_desk(qtbot, desks, server, kim)
    recovery_key = written_down(qtbot, first, dialog)
    first.close_for_good()
    app.shutdown()

    second_app = desks.start("second")
    second = sign_in(qtbot, second_app, server.url, kim.user["username"])
    keys_ready(qtbot, second_app)
    assert not state_read(qtbot, second)["verified"]
    banners = second.device_banners
    qtbot.waitUntil(lambda: banners.device.isVisible(), timeout=WAIT_MS)
    click(banners.device.button)
    qtbot.waitUntil(lambda: len(second.findChildren(RecoverDialog)) == 1, timeout=WAIT_MS)
    recover = second.findChildren(RecoverDialog)[0]
    recover.key.setText("AAAA BBBB CCCC DDDD EEEE FFFF GGGG HHHH")
    click(recover.submit_button)
    qtbot.waitUntil(lambda: recover.status.text() == localized("E2E_RECOVERY_KEY_WRONG", "en-US"),
                    timeout=WAIT_MS)
    recover.key.setText(" ".join(recovery_key.split()))
    with qtbot.waitSignal(recover.accepted, timeout=WAIT_MS):
        click(recover.submit_button)

    qtbot.waitUntil(lambda: not banners.device.isVisible(), timeout=WAIT_MS)
    assert banners.state["verified"]
    open_room(qtbot, second, room_id)
    type_and_press_enter(second, "verified with the recovery key")
    qtbot.waitUntil(lambda: getattr(bubble(second, "verified with the recovery key"), "state", None) == "sent",
                    timeout=WAIT_MS)


def test_a_contacts_changed_identity_is_a_warning_until_compared_and_trusted(server, users, desks, qtbot):
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Who is Lee")
    kim_window, lee_window = signed_in_desks(qtbot, desks, ("kim", server.url, kim), ("lee", server.url, lee))
    open_room(qtbot, kim_window, room_id)
    type_and_press_enter(kim_window, "before")
    qtbot.waitUntil(lambda: getattr(bubble(kim_window, "before"), "state", None) == "sent", timeout=WAIT_MS)
    warning = kim_window.device_banners.identity
    assert not warning.isVisible()
    pinned_before = kim_window.session.keys.safety_number(lee.user["id"])

    lee_window.session.keys.reset_identity()  # Lee lost every device and the recovery key
    type_and_press_enter(kim_window, "after")  # sending looks at the room's devices

    name = lee.user["nickname"]
    qtbot.waitUntil(lambda: warning.isVisible(), timeout=WAIT_MS)
    assert warning.label.text().startswith(f"{name}'s safety number changed.")
    open_room(qtbot, kim_window, group_room(kim, [], "Kim alone"))
    assert not warning.isVisible()  # only in the rooms Lee is in
    open_room(qtbot, kim_window, room_id)
    assert warning.isVisible()
    click(warning.button)
    qtbot.waitUntil(lambda: len(kim_window.findChildren(SafetyNumberDialog)) == 1, timeout=WAIT_MS)
    compare = kim_window.findChildren(SafetyNumberDialog)[0]
    qtbot.waitUntil(lambda: compare.number.text() != "…", timeout=WAIT_MS)
    # The number of Lee's new identity, the one his desk shows: not the one pinned before.
    assert compare.number.text() == lee_window.session.keys.safety_number(kim.user["id"])
    assert compare.number.text() != pinned_before
    with qtbot.waitSignal(compare.accepted, timeout=WAIT_MS):
        click(compare.trust_button)
    qtbot.waitUntil(lambda: not warning.isVisible(), timeout=WAIT_MS)
    assert kim_window.session.keys.identity_changes() == {}
    # Pinned now: both sides compute the same number again.
    assert kim_window.session.keys.safety_number(lee.user["id"]) == lee_window.session.keys.safety_number(
        kim.user["id"])


def test_a_plaintext_message_carries_a_not_encrypted_mark(server, users, sockets, desks, qtbot):
    kim, lee = users(2)
    room_id = group_room(kim, [lee], "Clear")
    app = desks.start("kim", language="ko-KR")
    window = sign_in(qtbot, app, server.url, kim.user["username"])
    open_room(qtbot, window, room_id)
    say(sockets(lee), room_id, "sent in the clear")
    qtbot.waitUntil(lambda: bubble(window, "sent in the clear") is not None, timeout=WAIT_MS)
    item = bubble(window, "sent in the clear")
    assert item.not_encrypted
    lines = [text for text, _ in ChatDelegate.meta_lines(item)]
    assert lines[0] == "⚠ 암호화되지 않음"
    type_and_press_enter(window, "sealed reply")
    qtbot.waitUntil(lambda: getattr(bubble(window, "sealed reply"), "state", None) == "sent", timeout=WAIT_MS)
    assert not any("암호화" in text for text, _ in ChatDelegate.meta_lines(bubble(window, "sealed reply")))
    # The mark takes a line of its own in the column beside the bubble, wide enough for it.
    delegate, row = window.chat_view.itemDelegate(), window.chat.index(window.chat.items().index(item))
    marked = delegate.geometry(row, window.chat_view.viewport().width()).meta_rect
    item.not_encrypted = False
    plain = delegate.geometry(row, window.chat_view.viewport().width()).meta_rect
    assert marked.height() > plain.height() and marked.width() > plain.width()


def sent(qtbot, window, text: str) -> None:
    type_and_press_enter(window, text)
    qtbot.waitUntil(lambda: getattr(bubble(window, text), "state", None) == "sent", timeout=WAIT_MS)


def invite(api, room_id: int, other) -> None:
    api.post(f"/api/rooms/{room_id}/members", json={"user_ids": [other.user["id"]]}).raise_for_status()


def test_a_member_no_desk_added_is_warned_of_until_a_member_vouches_for_them(server, users, desks, qtbot):
    kim, lee, ghost = users(3)
    room_id = group_room(kim, [], "Budget")  # with one other person it would be a direct room
    invite(kim, room_id, lee)  # before any desk met the room: its members then are vouched for
    kim_window, lee_window, ghost_window = signed_in_desks(
        qtbot, desks, ("kim", server.url, kim), ("lee", server.url, lee), ("ghost", server.url, ghost))
    open_room(qtbot, kim_window, room_id)
    open_room(qtbot, lee_window, room_id)
    sent(qtbot, kim_window, "before")
    kim_warning, lee_warning = kim_window.device_banners.unvouched, lee_window.device_banners.unvouched
    assert not kim_warning.isVisible()

    # Added through the HTTP API with Kim's session but from no desk of a member (as an operator would).
    invite(kim, room_id, ghost)
    sent(qtbot, kim_window, "the budget is 120")  # sealing looks at the room's members
    sent(qtbot, lee_window, "lee's view")
    name = ghost.user["nickname"]
    for warning in (kim_warning, lee_warning):
        qtbot.waitUntil(lambda warning=warning: warning.isVisible(), timeout=WAIT_MS)
        assert warning.label.text() == (f"{name}: added without any member's device (the server may have): "
                                        "they get no keys and cannot read.")
    open_room(qtbot, kim_window, group_room(kim, [], "Kim alone"))
    assert not kim_warning.isVisible()  # only in the room they are in
    open_room(qtbot, kim_window, room_id)
    assert kim_warning.isVisible()
    open_room(qtbot, ghost_window, room_id)
    assert bubble(ghost_window, "the budget is 120") is None and bubble(ghost_window, "lee's view") is None

    # Kim says she added them: her desk vouches, and her next key version tells Lee's.
    click(kim_warning.button)
    qtbot.waitUntil(lambda: not kim_warning.isVisible(), timeout=WAIT_MS)
    sent(qtbot, kim_window, "welcome")
    qtbot.waitUntil(lambda: not lee_warning.isVisible(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: bubble(ghost_window, "welcome") is not None, timeout=WAIT_MS)
    assert kim_window.session.keys.unvouched_members(room_id) == {}
