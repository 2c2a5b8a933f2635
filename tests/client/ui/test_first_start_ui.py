"""A desk's first start in the sign-in window: the servers found on the network, the question
about a new server's certificate (asked once), and the refusal of a changed one."""

from __future__ import annotations

import json
import subprocess
import sys

from desk_kit import WAIT_MS
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox

from harness import PASSWORD, register_and_login
from messenger.client.services.discovery import FoundServer
from messenger.client.ui.first_start import CertificateChangedDialog, TrustDialog
from messenger.core.certificates import readable

HTTPS = {"MESSENGER_ENV": "prod", "MESSENGER_DISCOVERY": "0"}  # loopback: nothing to announce anyway
FOUND = [FoundServer("Seoul office", "10.1.2.3", 5000, "1.4.0", True, "AB" * 32, True),
         FoundServer("Busan branch", "10.9.8.7", 5443, "1.3.2", False, None, False)]


def fingerprint_of(server) -> str:
    shown = subprocess.run([sys.executable, "-m", "messenger", "admin", "--data-dir", str(server.data_dir),
                            "show-fingerprint", "--json"], capture_output=True, text=True, timeout=60)
    return json.loads(shown.stdout)["fingerprint"]


def login_window(qtbot, app):
    qtbot.waitUntil(lambda: app.login_window is not None and app.login_window.isVisible(), timeout=WAIT_MS)
    return app.login_window


def test_the_sign_in_window_lists_the_servers_found_and_a_click_fills_the_address(desks, qtbot):
    app = desks.start("kim", discover=lambda: FOUND)
    login = login_window(qtbot, app)
    found = login.found_servers
    qtbot.waitUntil(found.isVisible, timeout=WAIT_MS)
    assert found.addresses() == ["https://10.1.2.3:5000", "http://10.9.8.7:5443"]
    assert found.model.item(0).text() == "Seoul office  ·  https://10.1.2.3:5000  ·  version 1.4.0"
    assert login.server.text() == ""

    second = found.view.visualRect(found.model.index(1, 0)).center()
    QTest.mouseClick(found.view.viewport(), Qt.MouseButton.LeftButton, pos=second)
    assert login.server.text() == "http://10.9.8.7:5443"


def test_a_preset_or_earlier_server_stays_in_the_field_until_a_click(desks, qtbot):
    app = desks.start("kim", server_url="https://chat.office:5000", discover=lambda: FOUND)
    login = login_window(qtbot, app)
    qtbot.waitUntil(login.found_servers.isVisible, timeout=WAIT_MS)
    assert login.server.text() == "https://chat.office:5000"


def test_nothing_found_shows_no_list(desks, qtbot):
    app = desks.start("kim", discover=lambda: [])
    login = login_window(qtbot, app)
    qtbot.wait(200)
    assert not login.found_servers.isVisible()


def test_a_new_self_signed_server_is_asked_about_once_then_pinned(fresh_server, desks, qtbot):
    server = fresh_server(env=HTTPS)
    user = register_and_login(server).user["username"]
    app = desks.start("kim")
    login = login_window(qtbot, app)
    login.server.setText(server.url)
    login.username.setText(user)
    login.password.setText(PASSWORD)
    QTest.mouseClick(login.sign_in, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: isinstance(app.trust_dialog, TrustDialog) and app.trust_dialog.isVisible(),
                    timeout=WAIT_MS)
    dialog = app.trust_dialog
    digits = fingerprint_of(server)
    assert dialog.fingerprint.text().split() == readable(digits).split()
    assert login.message.text().startswith("This desk has not trusted the server's certificate yet.")
    assert app.pins.get(server.url) is None
    with qtbot.waitSignal(app.signed_in, timeout=WAIT_MS):
        dialog.trust_button.click()
    assert app.pins.get(server.url).fingerprint == digits
    app.shutdown()

    again = desks.start("kim", start=False)
    again.start()
    qtbot.waitUntil(lambda: again.main_window is not None, timeout=WAIT_MS)
    assert again.trust_dialog is None  # resumed through the pin: nothing asked


def test_a_changed_certificate_is_refused_with_nothing_to_click_but_close(fresh_server, desks, qtbot):
    server = fresh_server(env=HTTPS)
    user = register_and_login(server).user["username"]
    app = desks.start("kim")
    app.pins.trust(server.url, "AB" * 32)  # what the desk trusted before the server changed
    login = login_window(qtbot, app)
    login.server.setText(server.url)
    login.username.setText(user)
    login.password.setText(PASSWORD)
    QTest.mouseClick(login.sign_in, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: isinstance(app.trust_dialog, CertificateChangedDialog) and app.trust_dialog.isVisible(),
                    timeout=WAIT_MS)
    dialog = app.trust_dialog
    assert [button.text() for button in dialog.buttons.buttons()] == [
        dialog.buttons.button(QDialogButtonBox.StandardButton.Close).text()]
    assert dialog.presented.text().split() == readable(fingerprint_of(server)).split()
    assert dialog.pinned.text().split() == readable("AB" * 32).split()
    assert login.message.text().startswith("The server's certificate is not the one this desk trusts.")
    dialog.reject()
    qtbot.wait(300)
    assert app.main_window is None and app.pins.get(server.url).fingerprint == "AB" * 32

