"""The platform administration dialog against a real server: users (disable signs the
user's desk out, enable, temporary passwords, create, delete), device sessions, the audit
log page by page, settings, and no way in for anyone else."""

from desk_kit import WAIT_MS, sign_in
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from harness import login
from messenger.client.ui import admin
from messenger.client.ui.admin import AdminDialog, admin_allowed
from messenger.client.ui.models import select_row
from messenger.core.errors import localized


def admin_window(qtbot, desks, srv):
    return sign_in(qtbot, desks.start("admin"), srv.url, "admin", srv.first_admin_password)


def admin_dialog(qtbot, window) -> AdminDialog:
    dialog = AdminDialog(window.session, window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.users_loaded and dialog.devices_loaded and dialog.audit_loaded
                    and dialog.save_settings_button.isEnabled(), timeout=WAIT_MS)
    return dialog


def row_of(dialog: AdminDialog, username: str) -> dict:
    return next(u for u in dialog.users.rows() if u["username"] == username)


def test_disabling_a_user_signs_their_desk_out_and_the_audit_log_says_so(server, users, desks, qtbot):
    [kim] = users(1)
    name = kim.user["username"]
    kim_app = desks.start("kim")
    sign_in(qtbot, kim_app, server.url, name)
    dialog = admin_dialog(qtbot, admin_window(qtbot, desks, server))
    assert row_of(dialog, name)["status"] == "active"
    assert select_row(dialog.user_view, lambda u: u["username"] == "admin")
    assert not dialog.disable_button.isEnabled() and not dialog.delete_button.isEnabled()  # not oneself

    assert dialog.select_user(name)
    assert dialog.disable_button.isEnabled() and not dialog.enable_button.isEnabled()
    with qtbot.waitSignal(kim_app.signed_out, timeout=WAIT_MS):
        QTest.mouseClick(dialog.disable_button, Qt.MouseButton.LeftButton)
    assert kim_app.main_window is None
    qtbot.waitUntil(lambda: row_of(dialog, name)["status"] == "disabled", timeout=WAIT_MS)
    assert dialog.enable_button.isEnabled()  # the selection stayed on Kim
    assert kim.get("/api/me").status_code == 401

    qtbot.waitUntil(lambda: any(e["action"] == "account_disabled" and e["username"] == name
                                for e in dialog.audit.rows()), timeout=WAIT_MS)
    ids = [e["id"] for e in dialog.audit.rows()]
    assert ids == sorted(ids, reverse=True)  # newest first
    entry = next(e for e in dialog.audit.rows() if e["action"] == "account_disabled")
    row = dialog.audit.rows().index(entry)
    assert dialog.audit.data(dialog.audit.index(row, 3)) == "@admin"  # who did it

    dialog.enable_button.click()
    qtbot.waitUntil(lambda: row_of(dialog, name)["status"] == "active", timeout=WAIT_MS)
    assert login(server, name).get("/api/me").status_code == 200


def test_temporary_passwords_are_shown_once_and_work(server, users, desks, qtbot):
    [kim] = users(1)
    dialog = admin_dialog(qtbot, admin_window(qtbot, desks, server))
    assert dialog.select_user(kim.user["username"])
    with qtbot.waitSignal(dialog.password_shown, timeout=WAIT_MS) as shown:
        dialog.reset_password_button.click()
    username, password = shown.args
    assert username == kim.user["username"] and password in dialog.password_box.text()
    dialog.password_box.close()
    assert kim.get("/api/me").status_code == 401  # the old sessions ended with the old password
    assert login(server, username, password).get("/api/me").status_code == 200

    new_name = f"new{kim.user['username'][-8:]}"
    with qtbot.waitSignal(dialog.password_shown, timeout=WAIT_MS) as shown:
        dialog.create_user(new_name, "새 직원", "", False)
    qtbot.waitUntil(lambda: any(u["username"] == new_name for u in dialog.users.rows()), timeout=WAIT_MS)
    assert row_of(dialog, new_name)["nickname"] == "새 직원"
    newcomer = login(server, new_name, shown.args[1])

    dialog.create_user(new_name, "", "", False)  # taken: the server's refusal is shown
    qtbot.waitUntil(lambda: dialog.status.text() == localized("USERNAME_TAKEN", "en-US"), timeout=WAIT_MS)

    assert dialog.select_user(new_name)
    dialog.delete_selected()
    qtbot.waitUntil(lambda: all(u["username"] != new_name or u["status"] == "deleted" for u in dialog.users.rows()),
                    timeout=WAIT_MS)
    assert newcomer.get("/api/me").status_code == 401


def test_the_devices_tab_signs_any_device_out(server, users, desks, qtbot):
    [kim] = users(1)
    dialog = admin_dialog(qtbot, admin_window(qtbot, desks, server))
    assert select_row(dialog.device_view, lambda d: d["id"] == kim.device_session_id)
    assert dialog.revoke_button.isEnabled()
    dialog.revoke_button.click()
    qtbot.waitUntil(lambda: all(d["id"] != kim.device_session_id for d in dialog.devices.rows()), timeout=WAIT_MS)
    assert kim.get("/api/me").status_code == 401


def test_the_audit_log_loads_page_by_page(server, users, desks, qtbot, monkeypatch):
    users(3)  # their sign-ins are in the log
    monkeypatch.setattr(admin, "AUDIT_PAGE", 2)
    dialog = admin_dialog(qtbot, admin_window(qtbot, desks, server))
    assert dialog.audit.rowCount() == 2 and dialog.more_audit_button.isEnabled()
    dialog.more_audit_button.click()
    qtbot.waitUntil(lambda: dialog.audit.rowCount() == 4, timeout=WAIT_MS)
    ids = [e["id"] for e in dialog.audit.rows()]
    assert ids == sorted(set(ids), reverse=True)  # no entry twice, still newest first


def test_a_setting_changed_in_the_dialog_is_the_servers_setting(fresh_server, desks, qtbot):
    srv = fresh_server()
    dialog = admin_dialog(qtbot, admin_window(qtbot, desks, srv))
    dialog.save_settings_button.click()
    qtbot.waitUntil(lambda: dialog.status.text() == "Nothing changed.", timeout=WAIT_MS)
    assert dialog.self_registration.isChecked() and dialog.audit_days.value() == 365

    dialog.self_registration.setChecked(False)
    dialog.audit_days.setValue(400)
    dialog.retention_days.setValue(90)
    dialog.mode.setCurrentIndex(dialog.mode.findData("desktop-only"))
    assert set(dialog.settings_changes()) == {"self_registration", "audit_retention_days", "retention", "mode"}
    dialog.save_settings_button.click()
    qtbot.waitUntil(lambda: dialog.status.text() == "Settings saved.", timeout=WAIT_MS)
    stored = login(srv, "admin", srv.first_admin_password).get("/api/admin/settings").json()
    assert stored["settings"]["self_registration"] is False
    assert stored["settings"]["audit_retention_days"] == 400
    assert stored["settings"]["retention"] == {"days": 90, "rooms": {}}
    assert stored["settings"]["mode"] == "desktop-only" and stored["desktop_only_mode"] is True
    assert dialog.settings_changes() == {}
    qtbot.waitUntil(lambda: any(e["action"] == "settings_changed" for e in dialog.audit.rows()), timeout=WAIT_MS)


def test_only_a_platform_admin_is_offered_administration(server, users, desks, qtbot):
    [kim] = users(1)
    kim_window = sign_in(qtbot, desks.start("kim"), server.url, kim.user["username"])
    assert not admin_allowed(kim_window.session)
    assert admin_allowed(admin_window(qtbot, desks, server).session)
    # Opened anyway, the server refuses and the dialog says so.
    dialog = AdminDialog(kim_window.session, kim_window)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.status.text() == localized("PLATFORM_ADMIN_REQUIRED", "en-US"), timeout=WAIT_MS)
    assert dialog.users.rowCount() == 0
