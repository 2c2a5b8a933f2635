"""The platform administration dialog (platform admins only): users (create, disable,
enable, reset the password, delete), every device session (sign one out), the audit log,
and the server's settings.

Every change goes through the ChatSession's `admin(...)` calls; the server records each in
the audit log and refuses them to anyone but a platform admin.
"""

from __future__ import annotations

import json
from typing import Callable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHeaderView,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from messenger.client.i18n import tr
from messenger.client.ui.account import when_text
from messenger.client.ui.dialog_parts import (
    StatusLine,
    close_buttons,
    hint_line,
    list_page,
    ok_cancel_buttons,
    refusal_text,
    tab_page,
)
from messenger.client.ui.login import new_account_fields
from messenger.client.ui.session import ChatSession
from messenger.client.ui.models import ITEM_ROLE, select_row, selected_row

AUDIT_PAGE = 100
MODES = ("hybrid", "desktop-only")
E2E_POLICIES = ("required", "optional", "off")
DAYS_MAX = 36_500  # the server's limit
AUDIT_DAYS_MIN = 30


def admin_allowed(session: ChatSession) -> bool:
    """Whether this account is a platform admin (the server decides; this only hides the entry)."""
    return bool(session.user.get("is_admin"))


class RowsModel(QAbstractTableModel):
    """Rows as the server sends them (dicts), shown in `columns`: (header, text of a row)."""

    def __init__(self, columns: list[tuple[str, Callable[[dict], str]]], parent=None):
        super().__init__(parent)
        self.columns = columns
        self._rows: list[dict] = []

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self.columns[index.column()][1](row)
        if role == ITEM_ROLE:
            return row
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section][0]
        return None

    def reset(self, rows: list[dict]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def extend(self, rows: list[dict]) -> None:
        if rows:
            self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows) + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()

    def rows(self) -> list[dict]:
        return list(self._rows)


def table(model: RowsModel) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.verticalHeader().hide()
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    view.horizontalHeader().setStretchLastSection(True)
    return view


class NewUserDialog(QDialog):
    """The fields of a new account; a blank password has the server make one."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(tr("admin.new_user"))
        self.username, self.nickname, self.password = new_account_fields()
        self.password.setPlaceholderText(tr("admin.password_generated"))
        self.is_admin = QCheckBox(tr("admin.make_admin"))
        buttons = ok_cancel_buttons(self, self.accept)
        form = QFormLayout(self)
        form.addRow(tr("account.username"), self.username)
        form.addRow(tr("account.nickname"), self.nickname)
        form.addRow(tr("login.password"), self.password)
        form.addRow(self.is_admin)
        form.addRow(buttons)


class AdminDialog(QDialog):
    password_shown = Signal(str, str)  # (username, a password the server made): shown this once

    def __init__(self, session: ChatSession, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.setWindowTitle(tr("admin.title"))
        self.resize(820, 560)
        self.settings: dict = {}
        self.audit_complete = False
        self.tabs = QTabWidget()
        self.tabs.addTab(self._users_tab(), tr("admin.users"))
        self.tabs.addTab(self._devices_tab(), tr("admin.devices"))
        self.tabs.addTab(self._audit_tab(), tr("admin.audit"))
        self.tabs.addTab(self._settings_tab(), tr("admin.settings"))
        self.status = StatusLine()
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status)
        layout.addWidget(close_buttons(self))
        self.password_box: QMessageBox | None = None
        self.load_users()
        self.load_devices()
        self.load_audit()
        self.load_settings()

    # -- common -----------------------------------------------------------------------------------

    def _refused(self, exc: BaseException) -> None:
        self.status.say(refusal_text(exc), error=True)
        self.session.failed(exc, quiet=True)  # a refusal that ended the session still ends it

    def _user_name(self, user_id: int | None) -> str:
        """A user id as its username, as far as the users tab knows it."""
        if user_id is None:
            return "—"
        user = next((u for u in self.users.rows() if u["id"] == user_id), None)
        return f"@{user['username']}" if user else f"#{user_id}"

    # -- users ------------------------------------------------------------------------------------

    def _users_tab(self) -> QWidget:
        self.users = RowsModel([
            (tr("account.username"), lambda u: u["username"]),
            (tr("account.nickname"), lambda u: u.get("nickname") or ""),
            (tr("admin.status"), lambda u: tr(f"admin.status_{u.get('status', 'active')}")),
            (tr("admin.role"), lambda u: tr("admin.platform_admin") if u.get("is_admin") else ""),
            (tr("admin.last_seen"), lambda u: when_text(u.get("last_seen"))),
            (tr("admin.live_devices"), lambda u: str(u.get("live_devices", 0))),
        ], self)
        self.user_view = table(self.users)
        self.user_view.selectionModel().selectionChanged.connect(lambda *_: self._update_user_buttons())
        self.new_user_button = QPushButton(tr("admin.new_user"))
        self.new_user_button.clicked.connect(self.new_user)
        self.disable_button = QPushButton(tr("admin.disable"))
        self.disable_button.clicked.connect(lambda: self._act_on_user("disable_user", "admin.disabled"))
        self.enable_button = QPushButton(tr("admin.enable"))
        self.enable_button.clicked.connect(lambda: self._act_on_user("enable_user", "admin.enabled"))
        self.reset_password_button = QPushButton(tr("admin.reset_password"))
        self.reset_password_button.clicked.connect(self.reset_password)
        self.delete_button = QPushButton(tr("admin.delete"))
        self.delete_button.clicked.connect(self.confirm_delete)
        page = list_page(self.user_view, self.new_user_button, self.disable_button, self.enable_button,
                          self.reset_password_button, self.delete_button)
        self.users_loaded = False
        self._update_user_buttons()
        return page

    def load_users(self) -> None:
        self.session.admin("users", owner=self).then(self._users_arrived).fail(self._refused)

    def _users_arrived(self, users: list[dict]) -> None:
        chosen = selected_row(self.user_view)
        self.users.reset(users)
        if chosen is not None:
            select_row(self.user_view, lambda u: u["id"] == chosen["id"])
        self.users_loaded = True
        self._update_user_buttons()

    def select_user(self, username: str) -> bool:
        return select_row(self.user_view, lambda u: u["username"] == username)

    def _update_user_buttons(self) -> None:
        user = selected_row(self.user_view)
        other = user is not None and user["id"] != self.session.user_id and user.get("status") != "deleted"
        self.disable_button.setEnabled(other and user.get("status") == "active")
        self.enable_button.setEnabled(other and user.get("status") == "disabled")
        self.reset_password_button.setEnabled(other)  # one's own: in the account dialog
        self.delete_button.setEnabled(other)

    def _act_on_user(self, action: str, done_key: str) -> None:
        user = selected_row(self.user_view)
        if user is not None:
            self.status.clear()
            self.session.admin(action, user["id"], owner=self).then(
                lambda _: self._user_changed(tr(done_key, name=user["username"]))).fail(self._refused)

    def _user_changed(self, text: str) -> None:
        self.status.say(text)
        self.load_users()
        self.load_devices()
        self.reload_audit()

    def new_user(self) -> NewUserDialog:
        dialog = NewUserDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.create_user(dialog.username.text().strip(), dialog.nickname.text().strip(),
                                                         dialog.password.text(), dialog.is_admin.isChecked()))
        dialog.open()
        return dialog

    def create_user(self, username: str, nickname: str, password: str, is_admin: bool) -> None:
        """A new account; without a password the server makes one, shown here once."""
        self.status.clear()
        self.session.admin("create_user", username, nickname=nickname or None, password=password or None,
                           is_admin=is_admin, owner=self).then(self._user_made).fail(self._refused)

    def _user_made(self, answer: dict) -> None:
        self._user_changed(tr("admin.created", name=answer["user"]["username"]))
        if answer.get("generated_password"):
            self._show_password(answer["user"]["username"], answer["generated_password"])

    def reset_password(self) -> None:
        user = selected_row(self.user_view)
        if user is not None:
            self.status.clear()
            self.session.admin("reset_password", user["id"], owner=self).then(self._password_reset).fail(
                self._refused)

    def _password_reset(self, answer: dict) -> None:
        self._user_changed(tr("admin.password_was_reset", name=answer["user"]["username"]))
        self._show_password(answer["user"]["username"], answer["generated_password"])

    def _show_password(self, username: str, password: str) -> None:
        """The temporary password, once: the server keeps only its hash."""
        box = QMessageBox(QMessageBox.Icon.Information, tr("admin.temporary_password"),
                          tr("admin.temporary_password_text", name=username, password=password),
                          QMessageBox.StandardButton.Ok, self)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.password_box = box
        self.password_shown.emit(username, password)

    def confirm_delete(self) -> None:
        user = selected_row(self.user_view)
        if user is None:
            return
        answer = QMessageBox.question(self, tr("admin.delete"), tr("admin.delete_confirm", name=user["username"]))
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_selected()

    def delete_selected(self) -> None:
        """Delete the selected account (for good: its messages stay, anonymised)."""
        self._act_on_user("delete_user", "admin.deleted")

    # -- devices ----------------------------------------------------------------------------------

    def _devices_tab(self) -> QWidget:
        self.devices = RowsModel([
            (tr("account.username"), lambda d: d.get("username") or ""),
            (tr("admin.device"), lambda d: tr("account.this_device", line=d.get("device_name") or "—")
             if d.get("is_current") else d.get("device_name") or "—"),
            (tr("admin.last_seen"), lambda d: when_text(d.get("last_used_at"))),
            (tr("admin.signed_in_at"), lambda d: when_text(d.get("created_at"))),
            (tr("admin.address"), lambda d: d.get("ip") or ""),
        ], self)
        self.device_view = table(self.devices)
        self.device_view.selectionModel().selectionChanged.connect(
            lambda *_: self.revoke_button.setEnabled(selected_row(self.device_view) is not None))
        self.revoke_button = QPushButton(tr("account.sign_out_device"))
        self.revoke_button.setEnabled(False)
        self.revoke_button.clicked.connect(self.revoke_selected)
        refresh = QPushButton(tr("admin.refresh"))
        refresh.clicked.connect(self.load_devices)
        self.devices_loaded = False
        return list_page(self.device_view, self.revoke_button, refresh)

    def load_devices(self) -> None:
        self.session.admin("device_sessions", owner=self).then(self._devices_arrived).fail(self._refused)

    def _devices_arrived(self, devices: list[dict]) -> None:
        self.devices.reset(devices)
        self.devices_loaded = True
        self.revoke_button.setEnabled(False)

    def revoke_selected(self) -> None:
        device = selected_row(self.device_view)
        if device is not None:
            self.status.clear()
            self.session.admin("revoke_device_session", device["id"], owner=self).then(
                lambda _: self._user_changed(tr("admin.device_signed_out", name=device.get("device_name") or "—"))
            ).fail(self._refused)

    # -- audit log ----------------------------------------------------------------------------------

    def _audit_tab(self) -> QWidget:
        self.audit = RowsModel([
            (tr("admin.when"), lambda e: when_text(e.get("created_at"))),
            (tr("admin.action"), lambda e: e.get("action") or ""),
            (tr("admin.account"), lambda e: f"@{e['username']}" if e.get("username") else "—"),
            (tr("admin.by"), lambda e: self._user_name(e.get("actor_id"))),
            (tr("admin.address"), lambda e: e.get("ip_address") or ""),
            (tr("admin.details"), lambda e: json.dumps(e.get("details") or {}, ensure_ascii=False)
             if e.get("details") else ""),
        ], self)
        self.audit_view = table(self.audit)
        self.more_audit_button = QPushButton(tr("admin.load_more"))
        self.more_audit_button.clicked.connect(self.load_audit)
        refresh = QPushButton(tr("admin.refresh"))
        refresh.clicked.connect(self.reload_audit)
        self.audit_loaded = False
        self._audit_generation = 0  # a page asked for before a reload is not shown after it
        return list_page(self.audit_view, self.more_audit_button, refresh)

    def reload_audit(self) -> None:
        self._audit_generation += 1
        self.audit.reset([])
        self.load_audit()

    def load_audit(self) -> None:
        """The next page of the log (newest first); each page follows the rows shown."""
        offset, generation = self.audit.rowCount(), self._audit_generation
        self.more_audit_button.setEnabled(False)
        self.session.admin("audit", limit=AUDIT_PAGE, offset=offset, owner=self).then(
            lambda entries: self._audit_arrived(generation, offset, entries)).fail(self._refused)

    def _audit_arrived(self, generation: int, offset: int, entries: list[dict]) -> None:
        if generation != self._audit_generation or offset != self.audit.rowCount():
            return
        self.audit.extend(entries)
        self.audit_complete = len(entries) < AUDIT_PAGE
        self.more_audit_button.setEnabled(not self.audit_complete)
        self.audit_loaded = True

    # -- settings ---------------------------------------------------------------------------------

    def _settings_tab(self) -> QWidget:
        self.mode = QComboBox()
        for mode in MODES:
            self.mode.addItem(tr(f"admin.mode_{mode}"), mode)
        self.mode_note = hint_line()
        self.self_registration = QCheckBox(tr("admin.self_registration"))
        self.e2e_policy = QComboBox()
        for policy in E2E_POLICIES:
            self.e2e_policy.addItem(tr(f"admin.e2e_{policy}"), policy)
        self.retention_days = QSpinBox()
        self.retention_days.setRange(0, DAYS_MAX)
        self.retention_days.setSpecialValueText(tr("admin.keep_forever"))
        self.audit_days = QSpinBox()
        self.audit_days.setRange(AUDIT_DAYS_MIN, DAYS_MAX)
        self.save_settings_button = QPushButton(tr("account.save"))
        self.save_settings_button.setEnabled(False)
        self.save_settings_button.clicked.connect(self.save_settings)
        form = QFormLayout()
        form.addRow(tr("admin.mode"), self.mode)
        form.addRow("", self.mode_note)
        form.addRow(self.self_registration)
        form.addRow(tr("admin.e2e_policy"), self.e2e_policy)
        form.addRow(tr("admin.retention_days"), self.retention_days)
        form.addRow(tr("admin.audit_days"), self.audit_days)
        return tab_page(form, button=self.save_settings_button)

    def load_settings(self) -> None:
        self.session.admin("settings", owner=self).then(self._settings_arrived).fail(self._refused)

    def _settings_arrived(self, view: dict) -> None:
        self.settings = view["settings"]
        self.mode.setCurrentIndex(max(0, self.mode.findData(self.settings.get("mode"))))
        forced = bool(view.get("mode_forced_by_environment"))
        self.mode.setEnabled(not forced)
        self.mode_note.setText(tr("admin.mode_forced") if forced else "")
        self.self_registration.setChecked(bool(self.settings.get("self_registration")))
        self.e2e_policy.setCurrentIndex(max(0, self.e2e_policy.findData(self.settings.get("e2e_policy"))))
        self.retention_days.setValue((self.settings.get("retention") or {}).get("days") or 0)
        self.audit_days.setValue(self.settings.get("audit_retention_days") or AUDIT_DAYS_MIN)
        self.save_settings_button.setEnabled(True)

    def settings_changes(self) -> dict:
        """What the form changes, as the server takes it (unchanged settings left out)."""
        retention = dict(self.settings.get("retention") or {"rooms": {}})
        retention["days"] = self.retention_days.value() or None
        wanted = {"mode": self.mode.currentData(), "self_registration": self.self_registration.isChecked(),
                  "e2e_policy": self.e2e_policy.currentData(), "retention": retention,
                  "audit_retention_days": self.audit_days.value()}
        return {key: value for key, value in wanted.items() if self.settings.get(key) != value}

    def save_settings(self) -> None:
        changes = self.settings_changes()
        if not changes:
            self.status.say(tr("admin.nothing_changed"))
            return
        self.status.clear()
        self.session.admin("update_settings", changes, owner=self).then(self._settings_saved).fail(self._refused)

    def _settings_saved(self, view: dict) -> None:
        self._settings_arrived(view)
        self.status.say(tr("admin.settings_saved"))
        self.reload_audit()
