"""Start-up, sign-in (the server filled in, the first-run admin's password changed at once),
resuming a session (and catching up on its events), sign-out, one instance per desk."""

from desk_kit import WAIT_MS, open_room, sign_in
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from harness import PASSWORD, unique_name
from messenger.client.i18n import tr
from messenger.client.ui.account import AccountDialog
from messenger.client.services.realtime import load_cursor
from messenger.client.ui.single_instance import SingleInstance, instance_name


def test_signing_in_through_the_login_window_opens_the_main_window_with_the_rooms(server, users, desks, qtbot):
    kim, lee = users(2)
    kim.post("/api/rooms", json={"member_ids": [lee.user["id"]]}).raise_for_status()
    app = desks.start("kim")
    assert app.main_window is None

    window = sign_in(qtbot, app, server.url, kim.user["username"])

    assert app.login_window is None
    qtbot.waitUntil(lambda: window.rooms.rowCount() == 1, timeout=WAIT_MS)
    [room] = window.rooms.rooms()
    assert (room.type, room.title) == ("direct", lee.user["nickname"])  # a DM is named after the partner
    assert app.store.load_token(server.url, kim.user["username"])
    assert app.settings.server_url == server.url


def test_a_refused_sign_in_shows_the_servers_own_words(server, users, desks, qtbot):
    [kim] = users(1)
    app = desks.start("kim", language="en-US")
    qtbot.waitUntil(lambda: app.login_window is not None and app.login_window.isVisible())
    login = app.login_window
    login.server.setText(server.url)
    login.username.setText(kim.user["username"])
    login.password.setText("not the password")
    QTest.mouseClick(login.sign_in, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: login.message.isVisible() and login.sign_in.isEnabled(), timeout=WAIT_MS)
    assert login.message.text() == "Wrong username or password."
    assert app.main_window is None


def test_a_second_start_resumes_the_session_without_asking_and_rotates_the_token(server, users, desks, qtbot):
    [kim] = users(1)
    username = kim.user["username"]
    first = desks.start("kim")
    sign_in(qtbot, first, server.url, username)
    first_token = first.store.load_token(server.url, username)
    first.shutdown()

    second = desks.start("kim", start=False)
    asked = []
    second.signed_out.connect(lambda: asked.append(True))
    second.start()
    qtbot.waitUntil(lambda: second.main_window is not None, timeout=WAIT_MS)

    assert asked == [] and second.login_window is None  # straight to the main window
    second_token = second.store.load_token(server.url, username)
    assert second_token and second_token != first_token
    assert server.api(first_token).get("/api/me").status_code == 401  # the old token died at rotation
    assert server.api(second_token).get("/api/me").status_code == 200


def test_signing_out_revokes_the_device_forgets_the_token_and_shows_the_login_window(server, users, desks, qtbot):
    [kim] = users(1)
    username = kim.user["username"]
    app = desks.start("kim")
    window = sign_in(qtbot, app, server.url, username)
    token = app.store.load_token(server.url, username)

    window.sign_out_action.trigger()

    qtbot.waitUntil(lambda: app.login_window is not None and app.login_window.sign_in.isEnabled(), timeout=WAIT_MS)
    assert app.main_window is None and app.login_window.isVisible()
    assert app.store.load_token(server.url, username) is None
    assert server.api(token).get("/api/me").status_code == 401
    assert app.login_window.username.text() == username  # only the password is asked again

    # And the next start on this desk asks to sign in.
    app.shutdown()
    again = desks.start("kim")
    qtbot.waitUntil(lambda: again.login_window is not None and again.login_window.isVisible(), timeout=WAIT_MS)
    assert again.main_window is None


def test_a_session_revoked_elsewhere_sends_the_client_back_to_the_login_window(server, users, desks, qtbot):
    [kim] = users(1)
    app = desks.start("kim")
    sign_in(qtbot, app, server.url, kim.user["username"])
    [device] = [s for s in kim.get("/api/device-sessions").json()["sessions"] if s["device_name"] != "test desk"]

    kim.delete(f"/api/device-sessions/{device['id']}").raise_for_status()

    qtbot.waitUntil(lambda: app.login_window is not None and app.login_window.isVisible(), timeout=WAIT_MS)
    assert app.main_window is None
    assert app.login_window.message.text() == "Your session ended. Please sign in again."
    assert app.store.load_token(server.url, kim.user["username"]) is None


def test_a_second_launch_brings_the_first_forward_instead_of_starting(tmp_path, qtbot):
    name = instance_name(tmp_path / "data")
    first, second = SingleInstance(name), SingleInstance(name)
    assert first.claim()
    try:
        with qtbot.waitSignal(first.activated, timeout=WAIT_MS):
            assert not second.claim()
        assert SingleInstance(instance_name(tmp_path / "other")).claim()  # another desk is another instance
    finally:
        first.release()


def test_registering_from_the_login_window_fills_in_the_new_username(server, desks, qtbot):
    app = desks.start("new", server_url=server.url)
    qtbot.waitUntil(lambda: app.login_window is not None and app.login_window.isVisible())
    app.login_window.register_link.linkActivated.emit("register")
    dialog = app.register_dialog
    name = unique_name()
    dialog.username.setText(name)
    dialog.nickname.setText("새 사람")
    dialog.password.setText(PASSWORD)
    dialog.confirm.setText(PASSWORD)

    QTest.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: app.login_window.username.text() == name, timeout=WAIT_MS)
    assert app.login_window.message.text() == "You are registered. Now sign in."
    window = sign_in(qtbot, app, server.url, name)
    assert window.session.user["nickname"] == "새 사람"


def test_a_start_while_the_server_is_unreachable_keeps_trying_and_resumes(server, users, relay, desks, qtbot):
    [kim] = users(1)
    link = relay(server.url)
    first = desks.start("kim")
    sign_in(qtbot, first, link.url, kim.user["username"])
    first.shutdown()
    link.down()

    app = desks.start("kim")

    qtbot.waitUntil(lambda: app.login_window is not None and app.login_window.message.isVisible(), timeout=WAIT_MS)
    assert app.login_window.message.text() == "Cannot reach the server. Trying again shortly…"
    assert app.store.load_token(link.url, kim.user["username"])  # the saved session is kept meanwhile
    link.up()
    qtbot.waitUntil(lambda: app.main_window is not None, timeout=WAIT_MS)
    assert app.login_window is None


def test_a_restart_catches_up_from_the_saved_cursor_and_shows_each_missed_message_once(
        server, users, sockets, desks, qtbot):
    from test_chat import direct_room, say

    kim, lee = users(2)
    dm = direct_room(kim, lee)
    first = desks.start("kim")
    window = sign_in(qtbot, first, server.url, kim.user["username"])
    qtbot.waitUntil(lambda: window.rooms.room(dm) is not None, timeout=WAIT_MS)
    cursor_file = first._cursor_file(first.session.api)
    first.shutdown()
    saved = load_cursor(cursor_file)
    assert saved is not None

    lee_socket = sockets(lee)
    away = [say(lee_socket, dm, f"while you were away {n}") for n in (1, 2)]

    second = desks.start("kim")
    notified = []
    second.tray.notified.connect(lambda room_id, title, text: notified.append(text))
    qtbot.waitUntil(lambda: second.main_window is not None, timeout=WAIT_MS)
    window = second.main_window
    qtbot.waitUntil(lambda: len(notified) == 2, timeout=WAIT_MS)
    # Caught up from the cursor, not only read again from the room list: the local search
    # index has them before the room was ever opened.
    hits = second.session.search_index.search("while you were away")
    assert sorted(hit.message_id for hit in hits) == sorted(away)
    assert notified == ["while you were away 1", "while you were away 2"]
    qtbot.waitUntil(lambda: window.rooms.room(dm) is not None and window.rooms.room(dm).unread == 2, timeout=WAIT_MS)

    open_room(qtbot, window, dm)
    texts = [item.text for item in window.chat.items()]
    assert texts.count("while you were away 1") == 1 and texts.count("while you were away 2") == 1
    assert window.rooms.room(dm).unread in (0, 2)  # read once looked at, never counted twice
    second.shutdown()
    assert load_cursor(cursor_file) > saved


def test_the_sign_in_window_offers_a_server_found_on_this_computer(server, desks, qtbot):
    chosen = desks.start("chosen", server_url="https://chat.office:5000", local_server=server.url)
    app = desks.start("new", local_server=server.url)
    qtbot.waitUntil(lambda: app.login_window is not None and app.login_window.server_url() == server.url,
                    timeout=WAIT_MS)
    # A server chosen before wins over the one on this computer.
    assert chosen.login_window.server_url() == "https://chat.office:5000"


def test_the_first_run_admin_is_asked_for_a_new_password_at_once(fresh_server, desks, qtbot):
    srv = fresh_server()
    first = srv.first_admin_password
    app = desks.start("admin")
    window = sign_in(qtbot, app, srv.url, "admin", first)
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), AccountDialog), timeout=WAIT_MS)
    dialog = QApplication.activeModalWidget()
    assert dialog.tabs.currentWidget() is dialog.password_page
    assert dialog.current_password.text() == first
    assert dialog.password_status.text() == tr("account.first_password")

    dialog.new_password.setText("Office-Admin-2026")
    dialog.new_password_again.setText("Office-Admin-2026")
    with qtbot.waitSignal(app.signed_out, timeout=WAIT_MS):
        dialog.change_password_button.click()
    assert app.login_window.message.text() == tr("account.password_changed")
    assert not (srv.data_dir / "first-run-admin.txt").exists()

    window = sign_in(qtbot, app, srv.url, "admin", "Office-Admin-2026")
    qtbot.wait(300)
    assert not isinstance(QApplication.activeModalWidget(), AccountDialog)  # asked once, not again
    assert window.session.user["username"] == "admin"
