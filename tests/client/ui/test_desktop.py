"""Desktop behaviour: notifications, muted rooms, failed messages, settings, closing to the
tray, the one place message text is decoded, and the report of an unexpected error."""

import sys
import threading

import pytest
from client_kit import FakeDesktop, NotificationService, private_session_bus
from desk_kit import WAIT_MS, activate, open_room, sign_in
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox
from test_chat import bubble, direct_room, group_room, say, stored_sealed, type_and_press_enter

from messenger.client.i18n import set_language
from messenger.client.services.autostart import Autostart
from messenger.client.services.keys import KeyAvailability
from messenger.client.services.windows_shell import room_link
from messenger.client.ui.message_text import MessageText
from messenger.core.e2e import RoomKeyring, encrypt_envelope
from messenger.core.errors import localized


def action(menu, text: str):
    """The menu's action labelled `text` (looked for in submenus too)."""
    for item in menu.actions():
        if item.text() == text:
            return item
        if item.menu() is not None:
            found = action(item.menu(), text)
            if found is not None:
                return found
    raise LookupError(f"no {text!r} in {[a.text() for a in menu.actions()]}")


def test_clicking_a_notification_opens_its_room(server, users, sockets, desks, qtbot):
    kim, lee, park = users(3)
    dm = direct_room(kim, lee)
    team = group_room(kim, [lee, park], "Team")
    app = desks.start("kim")
    window = sign_in(qtbot, app, server.url, kim.user["username"])
    open_room(qtbot, window, team)
    activate(qtbot, window)
    notified = []
    app.tray.notified.connect(lambda *args: notified.append(args))

    say(sockets(lee), dm, "잠깐 통화 가능?")
    qtbot.waitUntil(lambda: len(notified) == 1, timeout=WAIT_MS)
    assert notified == [(dm, lee.user["nickname"], "잠깐 통화 가능?")]

    app.tray.icon.messageClicked.emit()  # what the system does when the notification is clicked

    qtbot.waitUntil(lambda: window.room_shown(dm), timeout=WAIT_MS)
    assert bubble(window, "잠깐 통화 가능?") is not None
    qtbot.waitUntil(lambda: window.rooms.room(dm).unread == 0, timeout=WAIT_MS)


def test_a_room_link_given_before_signing_in_opens_its_room_once_signed_in(server, users, desks, qtbot):
    # Windows starts `messenger.exe office-messenger:room/N` for a toast clicked while no client runs.
    kim, lee = users(2)
    dm = direct_room(kim, lee)
    group_room(kim, [lee], "Team")
    app = desks.start("kim")
    qtbot.waitUntil(lambda: app.login_window is not None, timeout=WAIT_MS)

    assert app.desktop_notifications.open_link(room_link(dm))
    window = sign_in(qtbot, app, server.url, kim.user["username"])

    qtbot.waitUntil(lambda: window.room_shown(dm), timeout=WAIT_MS)


@pytest.fixture
def session_bus(monkeypatch):
    """A private session bus for the desks started in the test (DBUS_SESSION_BUS_ADDRESS); asked
    for first, it ends after them."""
    with private_session_bus() as address:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        yield address


def test_a_click_on_an_older_desktop_notification_opens_its_own_room(session_bus, server, users, sockets, desks,
                                                                      qtbot):
    """Linux: notifications go to the desktop's notification service, and a click on one left in
    its notification centre opens that room, not the newest notification's."""
    kim, lee, park = users(3)
    dm = direct_room(kim, lee)
    team = group_room(kim, [lee, park], "Team")
    other = group_room(kim, [park], "Other")
    with NotificationService(session_bus) as service:
        app = desks.start("kim")
        window = sign_in(qtbot, app, server.url, kim.user["username"])
        qtbot.waitUntil(lambda: app.desktop_notifications.available, timeout=WAIT_MS)
        open_room(qtbot, window, other)
        activate(qtbot, window)
        asked = []
        app.attention_asked.connect(lambda: asked.append(True))

        say(sockets(lee), dm, "잠깐 통화 가능?")
        qtbot.waitUntil(lambda: len(service.shown) == 1, timeout=WAIT_MS)
        say(sockets(park), team, "회의 시작")
        qtbot.waitUntil(lambda: len(service.shown) == 2, timeout=WAIT_MS)
        first, newest = service.shown
        assert first[1:3] == (lee.user["nickname"], "잠깐 통화 가능?")
        assert newest[1:3] == ("Team", f"{park.user['nickname']}: 회의 시작")

        service.click(first[0])
        qtbot.waitUntil(lambda: window.room_shown(dm), timeout=WAIT_MS)
        service.click(newest[0])
        qtbot.waitUntil(lambda: window.room_shown(team), timeout=WAIT_MS)
        assert asked == [], "shown, so no taskbar flash"


@pytest.mark.parametrize("windows_says,service_inhibited", [(FakeDesktop(focus=2), False),
                                                           (FakeDesktop(platform="linux"), True)],
                         ids=["windows focus assist", "linux do not disturb"])
def test_held_back_notifications_flash_the_taskbar(session_bus, server, users, sockets, desks, qtbot,
                                                   windows_says, service_inhibited):
    """Focus Assist (Windows, faked at the OS boundary) or a notification service that says do
    not disturb (for real over D-Bus): the notification goes to the centre, and the taskbar
    button flashes."""
    kim, lee = users(2)
    dm = direct_room(kim, lee)
    with NotificationService(session_bus) as service:
        app = desks.start("kim")
        window = sign_in(qtbot, app, server.url, kim.user["username"])
        qtbot.waitUntil(lambda: app.desktop_notifications.available, timeout=WAIT_MS)
        asked = []
        app.attention_asked.connect(lambda: asked.append(True))
        say(sockets(lee), dm, "first")
        qtbot.waitUntil(lambda: len(service.shown) == 1, timeout=WAIT_MS)
        qtbot.wait(300)
        assert asked == [], "nothing held back yet"

        app.desktop = windows_says
        service.inhibited = service_inhibited
        say(sockets(lee), dm, "second")
        qtbot.waitUntil(lambda: asked == [True], timeout=WAIT_MS)
        qtbot.waitUntil(lambda: len(service.shown) == 2, timeout=WAIT_MS)
        assert window.rooms.room(dm).unread == 2


def test_a_muted_room_counts_its_unread_quietly(server, users, sockets, desks, qtbot):
    kim, lee, park = users(3)
    dm = direct_room(kim, lee)
    team = group_room(kim, [lee, park], "Team")
    app = desks.start("kim")
    window = sign_in(qtbot, app, server.url, kim.user["username"])
    qtbot.waitUntil(lambda: window.rooms.room(dm) is not None, timeout=WAIT_MS)
    open_room(qtbot, window, team)
    notified = []
    app.tray.notified.connect(lambda *args: notified.append(args))

    action(window.room_menu(window.rooms.room(dm)), "Mute").trigger()
    qtbot.waitUntil(lambda: window.rooms.room(dm).muted, timeout=WAIT_MS)
    say(sockets(lee), dm, "shh")

    qtbot.waitUntil(lambda: window.rooms.room(dm).unread == 1, timeout=WAIT_MS)
    assert window.rooms.unread_total == 0 and notified == []
    assert app.tray.tooltip == "Messenger"


def test_a_refused_message_is_marked_failed_and_can_be_discarded(server, users, sockets, desks, qtbot):
    kim, lee, park = users(3)
    dm = direct_room(kim, lee)
    elsewhere = say(sockets(park), direct_room(park, kim), "in another room")
    app = desks.start("kim")
    window = sign_in(qtbot, app, server.url, kim.user["username"])
    open_room(qtbot, window, dm)

    # A reply to a message of another room: the server refuses it for good.
    window.session.send_text(dm, "a reply that cannot be", reply_to=elsewhere)

    qtbot.waitUntil(lambda: getattr(bubble(window, "a reply that cannot be"), "state", None) == "failed",
                    timeout=WAIT_MS)
    failed = bubble(window, "a reply that cannot be")
    assert failed.error_code == "REPLY_NOT_IN_ROOM" and failed.message_id is None
    menu = window.message_menu(failed)
    assert action(menu, "Send again") is not None
    action(menu, "Discard").trigger()
    qtbot.waitUntil(lambda: bubble(window, "a reply that cannot be") is None, timeout=WAIT_MS)
    assert window.session.outbox.messages() == []


def test_replying_from_the_message_menu_sends_a_reply(server, users, sockets, desks, qtbot):
    kim, lee = users(2)
    dm = direct_room(kim, lee)
    question = say(sockets(lee), dm, "회의 몇 시죠?")
    app = desks.start("kim")
    window = sign_in(qtbot, app, server.url, kim.user["username"])
    open_room(qtbot, window, dm)

    action(window.message_menu(bubble(window, "회의 몇 시죠?")), "Reply").trigger()
    assert window.reply_bar.isVisible()
    type_and_press_enter(window, "3시요")

    qtbot.waitUntil(lambda: getattr(bubble(window, "3시요"), "message_id", None) is not None, timeout=WAIT_MS)
    assert bubble(window, "3시요").reply["id"] == question
    assert not window.reply_bar.isVisible()
    assert stored_sealed(kim, dm, "3시요")["reply_to"] == question


def test_the_settings_dialog_saves_and_switches_the_language_at_once(server, users, desks, qtbot):
    [kim] = users(1)
    app = desks.start("kim", language="en-US")
    window = sign_in(qtbot, app, server.url, kim.user["username"])
    assert window.send_button.text() == "Send"

    dialog = app.open_settings()
    dialog.language.setCurrentIndex(dialog.language.findData("ko-KR"))
    dialog.update_channel.setCurrentIndex(dialog.update_channel.findData("canary"))
    dialog.notifications.setChecked(False)
    dialog.start_at_login.setChecked(True)
    QTest.mouseClick(dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: window.send_button.text() == "보내기", timeout=WAIT_MS)
    saved = app.settings
    assert (saved.language, saved.update_channel, saved.notifications, saved.start_at_login) == (
        "ko-KR", "canary", False, True)
    assert window.session.api.language == "ko-KR"  # the server's errors follow too
    assert app.tray.open_action.text() == "열기"


def test_closing_the_window_keeps_the_client_in_the_tray(server, users, desks, qtbot):
    [kim] = users(1)
    app = desks.start("kim")
    window = sign_in(qtbot, app, server.url, kim.user["username"])
    app.tray.available = True  # this test machine has no tray; pretend it has one
    assert app.settings.close_to_tray

    window.close()

    assert not window.isVisible()
    assert app.main_window is window and app.session is not None  # still running, still connected
    app.show_front()
    assert window.isVisible()


def click_ok(dialog) -> None:
    QTest.mouseClick(dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)


def test_start_at_login_in_the_settings_writes_the_autostart_entry_and_the_setting_wins_at_start(
        desks, qtbot, tmp_path):
    entry = tmp_path / "xdg" / "autostart" / "messenger.desktop"

    def start():
        app = desks.start("kim", start=False)
        app.autostart = Autostart(["/opt/Messenger App/messenger"], platform="linux", config_home=tmp_path / "xdg")
        app.start()
        return app

    app = start()
    assert not entry.exists()
    dialog = app.open_settings()
    dialog.start_at_login.setChecked(True)
    click_ok(dialog)

    qtbot.waitUntil(entry.exists, timeout=WAIT_MS)
    assert 'Exec="/opt/Messenger App/messenger"\n' in entry.read_text(encoding="utf-8")

    # Removed outside the app: the setting wins at the next start.
    app.shutdown()
    entry.unlink()
    app = start()
    assert entry.exists()

    dialog = app.open_settings()
    assert dialog.start_at_login.isChecked() and dialog.start_at_login.isEnabled()
    dialog.start_at_login.setChecked(False)
    click_ok(dialog)
    qtbot.waitUntil(lambda: not entry.exists(), timeout=WAIT_MS)
    assert app.settings.start_at_login is False


def test_the_first_start_keeps_the_start_at_login_the_installer_wrote(desks, monkeypatch, tmp_path):
    """The setup EXE wrote the Run value and StartAtLogin=1: the preset is the setting's default,
    so the first start keeps the entry instead of enforcing the declared default (False)."""
    from messenger.client import app as app_module

    autostart = Autostart(["/opt/Messenger/messenger"], platform="linux", config_home=tmp_path / "xdg")
    autostart.enable()  # what the installer did
    monkeypatch.setattr(app_module, "installer_presets", lambda: {"start_at_login": True})
    app = desks.start("kim", start=False)
    app.autostart = autostart
    app.start()
    assert autostart.is_enabled() and app.settings.start_at_login is True

    app.shutdown()
    monkeypatch.setattr(app_module, "installer_presets", lambda: {"start_at_login": False})
    app = desks.start("kim", start=False)
    app.autostart = autostart
    app.start()
    assert not autostart.is_enabled()  # installed again without it: the entry goes


def test_settings_a_policy_sets_are_shown_locked(desks, monkeypatch):
    from messenger.client import app as app_module

    monkeypatch.setattr(app_module, "policies", lambda: {"server_url": "https://it.office", "update_channel": "stable"})
    app = desks.start("kim")
    dialog = app.open_settings()
    assert dialog.server.text() == "https://it.office" and not dialog.server.isEnabled()
    assert not dialog.update_channel.isEnabled() and dialog.language.isEnabled()
    click_ok(dialog)  # saving the form keeps working: the locked values are the policy's
    assert app.settings.server_url == "https://it.office"


def test_the_settings_send_a_test_notification(desks, qtbot):
    app = desks.start("kim")
    notified = []
    app.tray.notified.connect(lambda *args: notified.append(args))
    dialog = app.open_settings()

    QTest.mouseClick(dialog.test_notification, Qt.MouseButton.LeftButton)

    assert notified == [(0, "Messenger", "This is how notifications look.")]
    app.tray.icon.messageClicked.emit()  # clicking it only brings the window forward
    assert app.login_window.isVisible()


def test_close_to_tray_is_remembered_across_restarts(server, users, desks, qtbot):
    [kim] = users(1)
    app = desks.start("kim")
    sign_in(qtbot, app, server.url, kim.user["username"])
    app.tray.available = True  # this test machine has no tray; pretend it has one
    assert app.tray.tooltip == "Messenger" and not app.tray.restart_action.isVisible()
    dialog = app.open_settings()
    dialog.close_to_tray.setChecked(False)
    click_ok(dialog)
    assert not app._keeps_running()
    app.shutdown()

    again = desks.start("kim")
    qtbot.waitUntil(lambda: again.main_window is not None, timeout=WAIT_MS)
    again.tray.available = True
    assert not again.open_settings().close_to_tray.isChecked()
    assert not again._keeps_running()
    with qtbot.waitSignal(again.main_window.quit_requested, timeout=WAIT_MS):
        again.main_window.close()  # no tray to stay in: closing quits


class LegacyRoomKeys:
    """Stands in for the device's E2E keys: it holds the old system's key of room 7 only."""

    def __init__(self, key: str):
        self.key = key

    def keyring(self, room_id: int) -> RoomKeyring:
        return RoomKeyring(legacy_key=self.key if room_id == 7 else None)

    def open_legacy(self, room_id: int, envelope: str) -> str:
        return self.keyring(room_id).decrypt(envelope)

    def legacy_key_availability(self, room_id: int) -> KeyAvailability:
        return KeyAvailability.HELD if room_id == 7 else KeyAvailability.UNAVAILABLE  # none is on its way


def test_message_text_is_read_in_one_place_with_the_devices_keys():
    envelope = encrypt_envelope("비밀 이야기", "room-key-of-room-7", "v2")
    text = MessageText(LegacyRoomKeys("room-key-of-room-7"))
    set_language("en-US")

    assert text.show(7, envelope, encrypted=True) == "비밀 이야기"
    assert text.show(8, envelope, encrypted=True) == localized("E2E_WRONG_KEY", "en-US")
    assert text.show(7, encrypt_envelope("x", "another key", "v2"), encrypted=True) == localized(
        "E2E_AUTH_FAILED", "en-US")
    assert MessageText().show(7, envelope, encrypted=True) == localized("E2E_WAITING_FOR_KEYS", "en-US")
    assert text.show(8, "plain words", encrypted=False) == "plain words"
    assert text.show(8, "", encrypted=False, message_type="file", file_name="보고서.pdf") == "📎 보고서.pdf"


def test_an_unexpected_error_is_logged_and_shown_in_a_report(qtbot, monkeypatch, caplog, tmp_path):
    from messenger.client.ui import crash
    from messenger.client.ui.bridge import Bridge

    # Put back pytest-qt's hooks (and no reporter) after the test.
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setattr(crash, "_reporter", None)
    shown = []
    monkeypatch.setattr(crash.ReportDialog, "exec", lambda dialog: shown.append(dialog.details.toPlainText()))
    crash.install_exception_hook(tmp_path / "client.log")
    bridge = Bridge()

    def broken():
        raise ZeroDivisionError("a bug in a service call")

    bridge.run(broken)  # nobody handles its failure: that is a bug, reported

    qtbot.waitUntil(lambda: len(shown) == 1, timeout=WAIT_MS)
    assert "ZeroDivisionError: a bug in a service call" in shown[0]
    assert "unexpected error" in caplog.text
    bridge.close()
