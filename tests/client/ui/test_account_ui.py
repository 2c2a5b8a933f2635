"""The account dialog against a real server: profile and picture, the password (refusals in
words, then signing in with the new one), the device list signing other desks out, and the
key backup bringing a room key to a desk no other device can answer."""

from desk_kit import WAIT_MS, open_room, sign_in
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtTest import QTest
from test_chat import bubble, group_room, keys_ready

from harness import PASSWORD, login
from messenger.client.i18n import tr
from messenger.client.services.settings import ClientSettings
from messenger.client.ui.account import AccountDialog
from messenger.core.errors import localized

NEW_PASSWORD = "Another-Horse-77-staple"


def account_dialog(qtbot, window) -> AccountDialog:
    dialog = AccountDialog(window.session, window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.loaded and dialog.devices_loaded, timeout=WAIT_MS)
    return dialog


def start_desk(desks, name: str, device_name: str):
    """A desk whose login window offers `device_name` as this computer's name."""
    ClientSettings(desks.dirs(name).config / ClientSettings.FILE_NAME).update(device_name=device_name)
    return desks.start(name)


def test_a_new_nickname_and_status_reach_the_server(server, users, desks, qtbot):
    [kim] = users(1)
    window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    dialog = account_dialog(qtbot, window)
    assert dialog.nickname.text() == kim.user["nickname"]

    dialog.nickname.setText("김")  # one letter: refused here, nothing sent
    dialog.save_profile_button.click()
    assert dialog.profile_status.text() == tr("account.nickname_length")

    dialog.nickname.setText("김민수 Kim")
    dialog.status_message.setText("회의 중 In a meeting")
    with qtbot.waitSignal(dialog.profile_changed, timeout=WAIT_MS):
        dialog.save_profile_button.click()
    assert dialog.profile_status.text() == tr("account.saved")
    profile = kim.get("/api/profile").json()["user"]
    assert (profile["nickname"], profile["status_message"]) == ("김민수 Kim", "회의 중 In a meeting")


def test_a_png_picture_is_uploaded_shown_and_removed(server, users, desks, qtbot, tmp_path):
    [kim] = users(1)
    window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    dialog = account_dialog(qtbot, window)
    assert not dialog.avatar_shown and not dialog.remove_avatar_button.isEnabled()
    picture = QImage(16, 16, QImage.Format.Format_RGB32)
    picture.fill(QColor("#3366CC"))
    path = tmp_path / "me.png"
    assert picture.save(str(path))

    dialog.set_avatar(str(path))
    qtbot.waitUntil(lambda: dialog.avatar_shown, timeout=WAIT_MS)
    assert dialog.remove_avatar_button.isEnabled()
    url = kim.get("/api/profile").json()["user"]["profile_image"]
    answer = kim.get(url)
    assert answer.status_code == 200 and answer.content == path.read_bytes()

    not_a_picture = tmp_path / "notes.png"
    not_a_picture.write_text("not an image")
    dialog.set_avatar(str(not_a_picture))
    qtbot.waitUntil(lambda: dialog.profile_status.text() == localized("IMAGE_INVALID", "en-US"), timeout=WAIT_MS)
    assert "#D93025" in dialog.profile_status.styleSheet()  # said as an error
    assert kim.get(url).content == path.read_bytes()  # the picture stays

    dialog.remove_avatar_button.click()
    qtbot.waitUntil(lambda: not dialog.avatar_shown and not dialog.remove_avatar_button.isEnabled(), timeout=WAIT_MS)
    assert kim.get("/api/profile").json()["user"]["profile_image"] is None
    assert kim.get(url).status_code == 404


def test_a_changed_password_signs_every_device_out_and_the_new_one_signs_in(server, users, desks, qtbot):
    [kim] = users(1)
    app = desks.start("kim")
    window = sign_in(qtbot, app, server.url, kim.user["username"])
    dialog = account_dialog(qtbot, window)

    dialog.current_password.setText(PASSWORD)
    dialog.new_password.setText(NEW_PASSWORD)
    dialog.new_password_again.setText(NEW_PASSWORD + "x")
    dialog.change_password_button.click()
    assert dialog.password_status.text() == tr("account.password_mismatch")  # nothing sent

    dialog.current_password.setText("not-the-password")
    dialog.new_password_again.setText(NEW_PASSWORD)
    dialog.change_password_button.click()
    qtbot.waitUntil(lambda: dialog.password_status.text() == "The current password is wrong.", timeout=WAIT_MS)
    assert dialog.change_password_button.isEnabled()
    assert kim.get("/api/me").status_code == 200  # nothing changed

    dialog.current_password.setText(PASSWORD)
    with qtbot.waitSignal(app.signed_out, timeout=WAIT_MS):
        dialog.change_password_button.click()
    assert app.main_window is None and app.login_window.isVisible()
    assert app.login_window.message.text() == tr("account.password_changed")  # why, not just "session ended"
    assert kim.get("/api/me").status_code == 401  # the other device is signed out too
    assert server.api().post("/api/device-sessions", json={
        "username": kim.user["username"], "password": PASSWORD, "device_name": "x", "remember": False,
    }).status_code == 401

    window = sign_in(qtbot, app, server.url, kim.user["username"], NEW_PASSWORD)
    assert window.session.user["id"] == kim.user["id"]


def test_desk_a_signs_desk_b_out_from_the_device_list(server, users, desks, qtbot):
    [kim] = users(1)
    username = kim.user["username"]
    window_a = sign_in(qtbot, start_desk(desks, "a", "Desk A"), server.url, username)
    app_b = start_desk(desks, "b", "Desk B")
    sign_in(qtbot, app_b, server.url, username)
    dialog = account_dialog(qtbot, window_a)
    listed = [d["device_name"] for d in dialog.devices.devices()]
    assert listed[0] == "Desk A" and sorted(listed) == ["Desk A", "Desk B", "test desk"]
    assert dialog.devices.data(dialog.devices.index(0)).endswith("(this device)")

    assert dialog.select_device("Desk B")
    with qtbot.waitSignal(app_b.signed_out, timeout=WAIT_MS):
        QTest.mouseClick(dialog.sign_out_device_button, Qt.MouseButton.LeftButton)
    assert app_b.main_window is None and app_b.login_window.isVisible()
    qtbot.waitUntil(lambda: "Desk B" not in [d["device_name"] for d in dialog.devices.devices()], timeout=WAIT_MS)

    # "Sign out all other devices" leaves this desk alone.
    other = login(server, username, device_name="phone")
    qtbot.waitUntil(lambda: dialog.sign_out_others_button.isEnabled(), timeout=WAIT_MS)
    dialog.load_devices()
    qtbot.waitUntil(lambda: len(dialog.devices.devices()) == 3, timeout=WAIT_MS)
    dialog.sign_out_others_button.click()
    qtbot.waitUntil(lambda: [d["device_name"] for d in dialog.devices.devices()] == ["Desk A"], timeout=WAIT_MS)
    assert not dialog.sign_out_others_button.isEnabled()
    assert kim.get("/api/me").status_code == 401 and other.get("/api/me").status_code == 401
    assert window_a.session.api.me()["id"] == kim.user["id"]


def test_a_key_backup_lets_a_new_desk_read_what_only_the_old_one_could(server, users, desks, qtbot):
    kim, lee = users(2)  # Lee has no desk: nobody else holds the room's key
    room_id = group_room(kim, [lee], "Backup")
    old = desks.start("old")
    old_window = sign_in(qtbot, old, server.url, kim.user["username"])
    keys_ready(qtbot, old)
    old_window.session.send_text(room_id, "금고 비밀번호는 서랍에")
    qtbot.waitUntil(lambda: len(kim.get(f"/api/rooms/{room_id}/messages").json()["messages"]) == 1, timeout=WAIT_MS)

    dialog = account_dialog(qtbot, old_window)
    qtbot.waitUntil(lambda: dialog.fingerprint.text() != "…", timeout=WAIT_MS)
    dialog.passphrase.setText("short")
    dialog.back_up_button.click()
    assert dialog.backup_status.text() == tr("account.passphrase_short", count=8)  # nothing sent
    dialog.passphrase.setText("서랍 속 열쇠 2026")
    dialog.passphrase_again.setText("서랍 속 열쇠 2026")
    dialog.back_up_button.click()
    qtbot.waitUntil(lambda: dialog.backup_status.text() == tr("account.backed_up", version=1), timeout=WAIT_MS)
    assert kim.get("/api/keys/backup").status_code == 200
    old.shutdown()  # the only device with the key is gone

    new = desks.start("new")
    new_window = sign_in(qtbot, new, server.url, kim.user["username"])
    keys_ready(qtbot, new)
    open_room(qtbot, new_window, room_id)
    assert bubble(new_window, "금고 비밀번호는 서랍에") is None
    assert new_window.chat.item(0).unreadable

    dialog = account_dialog(qtbot, new_window)
    assert dialog.fingerprint.text() != "…"
    dialog.passphrase.setText("틀린 암호입니다")
    dialog.restore_button.click()
    qtbot.waitUntil(lambda: dialog.backup_status.text() == localized("E2E_BACKUP_PASSPHRASE_WRONG", "en-US"),
                    timeout=WAIT_MS)
    dialog.passphrase.setText("서랍 속 열쇠 2026")
    dialog.restore_button.click()
    qtbot.waitUntil(lambda: dialog.backup_status.text() == tr("account.restored", count=1), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: bubble(new_window, "금고 비밀번호는 서랍에") is not None, timeout=WAIT_MS)
