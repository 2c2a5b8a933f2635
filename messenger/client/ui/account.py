"""The account dialog: the profile (nickname, status message, picture), the password,
this account's device sessions (sign one out, or every other one), and encryption (this
device's key fingerprint; the user's devices, verified or waiting for approval, approved
from here (devices.py); the passphrase-locked key backup: write it, restore from it).

Every change goes through the ChatSession. A password change ends every device session of
the account, this one too (the server's rule): the app then asks for the new password.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from messenger.client.i18n import clock, short_when, tr
from messenger.client.ui.dialog_parts import StatusLine, close_buttons, hint_line, list_page, refusal_text, tab_page
from messenger.client.ui.models import RowListModel, local_time, select_row, selected_row
from messenger.client.ui.session import ChatSession
from messenger.core.media import IMAGE_EXTENSIONS

AVATAR_PIXELS = 72
NICKNAME_CHARS = (2, 20)  # the server's limits
STATUS_MESSAGE_CHARS = 100
PASSPHRASE_MIN_CHARS = 8  # it guards every room key of the account (argon2id slows guessing, not much more)


def when_text(value: str | None) -> str:
    """A server time for a list: the time today, else the day and the time."""
    moment = local_time(value)
    if moment is None:
        return "—"
    today = datetime.now().astimezone().date()
    return clock(moment) if moment.date() == today else f"{short_when(moment, today)} {clock(moment)}"


class DeviceListModel(RowListModel[dict]):
    """The account's device sessions, one row each: name, last seen, and which is this one."""

    def row_data(self, device: dict, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            line = tr("account.device_line", name=device.get("device_name") or "—",
                      seen=when_text(device.get("last_used_at")))
            return tr("account.this_device", line=line) if device.get("is_current") else line
        if role == Qt.ItemDataRole.ToolTipRole:
            return " · ".join(filter(None, (device.get("ip"), device.get("user_agent"))))
        return None

    def ordered(self, devices: list[dict]) -> list[dict]:
        """This device first, then the most recently used."""
        current = [d for d in devices if d.get("is_current")]
        others = sorted((d for d in devices if not d.get("is_current")), key=lambda d: d.get("last_used_at") or "",
                        reverse=True)
        return current + others

    devices = RowListModel.rows


class AccountDialog(QDialog):
    profile_changed = Signal(dict)  # the user as the server now describes it

    def __init__(self, session: ChatSession, parent: QWidget | None = None, *, first_password: str | None = None,
                 banners=None):
        """`first_password`: the password printed at the server's first start, just used to
        sign in: the dialog opens at the password, asking to change it. `banners`: the main
        window's DeviceBanners (devices.py), which hold the user's devices' state and approve."""
        super().__init__(parent)
        self.session = session
        self.banners = banners
        self.user: dict = dict(session.user)
        self.setWindowTitle(tr("account.title"))
        self.resize(460, 480)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._profile_tab(), tr("account.profile"))
        self.password_page = self._password_tab()
        self.tabs.addTab(self.password_page, tr("account.password"))
        self.tabs.addTab(self._devices_tab(), tr("account.devices"))
        self.tabs.addTab(self._encryption_tab(), tr("account.encryption"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(close_buttons(self))
        self.loaded = False
        self.devices_loaded = False
        if first_password is not None:
            self.tabs.setCurrentWidget(self.password_page)
            self.current_password.setText(first_password)
            self.password_status.say(tr("account.first_password"))
            self.new_password.setFocus()
        session.profile(owner=self).then(self._profile_arrived).fail(self._profile_refused)
        session.key_fingerprint(owner=self).then(self.fingerprint.setText)
        self.load_devices()
        if banners is not None:
            banners.state_changed.connect(self._key_devices_arrived)
            if banners.state is not None:
                self._key_devices_arrived(banners.state)
            banners.refresh()

    # -- profile ----------------------------------------------------------------------------------

    def _profile_tab(self) -> QWidget:
        self.avatar = QLabel()
        self.avatar.setFixedSize(AVATAR_PIXELS, AVATAR_PIXELS)
        self.avatar.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.avatar.setStyleSheet("background: #E8EBF0; border-radius: 8px; color: #7A8291;")
        self.choose_avatar_button = QPushButton(tr("account.choose_picture"))
        self.choose_avatar_button.clicked.connect(self.choose_avatar)
        self.remove_avatar_button = QPushButton(tr("account.remove_picture"))
        self.remove_avatar_button.clicked.connect(self.remove_avatar)
        picture_buttons = QVBoxLayout()
        picture_buttons.addWidget(self.choose_avatar_button)
        picture_buttons.addWidget(self.remove_avatar_button)
        picture_buttons.addStretch(1)
        picture_row = QHBoxLayout()
        picture_row.addWidget(self.avatar)
        picture_row.addLayout(picture_buttons)
        picture_row.addStretch(1)
        self.nickname = QLineEdit()
        self.nickname.setMaxLength(NICKNAME_CHARS[1])
        self.status_message = QLineEdit()
        self.status_message.setMaxLength(STATUS_MESSAGE_CHARS)
        self.save_profile_button = QPushButton(tr("account.save"))
        self.save_profile_button.clicked.connect(self.save_profile)
        self.profile_status = StatusLine()
        form = QFormLayout()
        form.addRow(tr("account.username"), QLabel(f"@{self.user.get('username', '')}"))
        form.addRow(tr("account.nickname"), self.nickname)
        form.addRow(tr("account.status_message"), self.status_message)
        return tab_page(picture_row, form, button=self.save_profile_button, status=self.profile_status)

    def _profile_arrived(self, user: dict) -> None:
        self._show_user(user)
        self.loaded = True

    def _profile_refused(self, exc: BaseException) -> None:
        self.profile_status.say(refusal_text(exc), error=True)

    def _show_user(self, user: dict) -> None:
        self.user = user
        self.nickname.setText(user.get("nickname") or "")
        self.status_message.setText(user.get("status_message") or "")
        self.remove_avatar_button.setEnabled(bool(user.get("profile_image")))
        self.avatar.setPixmap(QPixmap())
        self.avatar.setText(tr("account.no_picture"))
        if user.get("profile_image"):
            self.session.profile_image(user["id"], owner=self).then(self._picture_arrived)

    def _picture_arrived(self, data: bytes) -> None:
        picture = QPixmap()
        if picture.loadFromData(data):
            self.avatar.setPixmap(picture.scaled(AVATAR_PIXELS, AVATAR_PIXELS, Qt.AspectRatioMode.KeepAspectRatio,
                                                 Qt.TransformationMode.SmoothTransformation))

    @property
    def avatar_shown(self) -> bool:
        return not self.avatar.pixmap().isNull()

    def _changed(self, user: dict, text: str) -> None:
        self._show_user(user)
        self.profile_changed.emit(user)
        self.profile_status.say(text)

    def save_profile(self) -> None:
        nickname, status_message = self.nickname.text().strip(), self.status_message.text().strip()
        if not NICKNAME_CHARS[0] <= len(nickname) <= NICKNAME_CHARS[1]:
            self.profile_status.say(tr("account.nickname_length"), error=True)
            return
        self.profile_status.clear()
        self.session.update_profile(nickname, status_message, owner=self).then(
            lambda user: self._changed(user, tr("account.saved"))).fail(self._profile_refused)

    def choose_avatar(self) -> None:
        patterns = " ".join(f"*.{ext}" for ext in sorted(set(IMAGE_EXTENSIONS) | set(IMAGE_EXTENSIONS.values())))
        path, _ = QFileDialog.getOpenFileName(self, tr("account.choose_picture"), "",
                                              f"{tr('account.pictures')} ({patterns})")
        if path:
            self.set_avatar(path)

    def set_avatar(self, path: str) -> None:
        """Upload the image at `path` as the profile picture (the server checks it is one)."""
        self.profile_status.clear()
        self.session.set_profile_image(path, owner=self).then(
            lambda user: self._changed(user, tr("account.picture_set"))).fail(self._profile_refused)

    def remove_avatar(self) -> None:
        self.profile_status.clear()
        self.session.remove_profile_image(owner=self).then(
            lambda user: self._changed(user, tr("account.picture_removed"))).fail(self._profile_refused)

    # -- encryption --------------------------------------------------------------------------------

    def _encryption_tab(self) -> QWidget:
        self.fingerprint = QLabel("…")
        self.fingerprint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fingerprint.setStyleSheet("font-family: monospace;")
        hint = hint_line(tr("account.backup_hint"))
        self.passphrase = QLineEdit()
        self.passphrase_again = QLineEdit()
        for field in (self.passphrase, self.passphrase_again):
            field.setEchoMode(QLineEdit.EchoMode.Password)
        self.start_over = QCheckBox(tr("account.start_over"))
        self.back_up_button = QPushButton(tr("account.back_up"))
        self.back_up_button.clicked.connect(self.back_up_keys)
        self.restore_button = QPushButton(tr("account.restore"))
        self.restore_button.clicked.connect(self.restore_keys)
        self.backup_status = StatusLine()
        self.key_devices = QListWidget()
        self._key_device_rows: list[dict] = []
        self.key_devices.setMaximumHeight(96)
        self.approve_button = QPushButton(tr("devices.approve"))
        self.approve_button.setEnabled(False)
        self.key_devices.currentRowChanged.connect(self._update_approve_button)
        self.approve_button.clicked.connect(self.approve_selected)
        form = QFormLayout()
        form.addRow(tr("account.fingerprint"), self.fingerprint)
        form.addRow(tr("devices.own_devices"), self.key_devices)
        form.addRow("", self.approve_button)
        form.addRow(tr("account.passphrase"), self.passphrase)
        form.addRow(tr("account.passphrase_again"), self.passphrase_again)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.restore_button)
        buttons.addWidget(self.back_up_button)
        return tab_page(hint, form, self.start_over, buttons, status=self.backup_status)

    def _key_devices_arrived(self, state: dict) -> None:
        """The user's devices as the identity sees them: verified, or waiting for approval."""
        self._key_device_rows = state["devices"]
        self.key_devices.clear()
        for device in self._key_device_rows:
            line = tr("devices.verified" if device["verified"] else "devices.waiting",
                      name=device.get("device_name") or "?")
            self.key_devices.addItem(tr("account.this_device", line=line) if device["current"] else line)
        self._update_approve_button()

    def key_device_rows(self) -> list[str]:
        return [self.key_devices.item(row).text() for row in range(self.key_devices.count())]

    def _selected_key_device(self) -> dict | None:
        row = self.key_devices.currentRow()
        return self._key_device_rows[row] if 0 <= row < len(self._key_device_rows) else None

    def _update_approve_button(self, *_) -> None:
        device = self._selected_key_device()
        verified_here = self.banners is not None and bool(self.banners.state and self.banners.state["verified"])
        self.approve_button.setEnabled(verified_here and device is not None and not device["verified"])

    def approve_selected(self):
        """The approval dialog for the selected device waiting for approval."""
        device = self._selected_key_device()
        if device is not None and self.banners is not None:
            return self.banners.approve(device)
        return None

    def back_up_keys(self) -> None:
        passphrase = self.passphrase.text()
        if len(passphrase) < PASSPHRASE_MIN_CHARS:
            self.backup_status.say(tr("account.passphrase_short", count=PASSPHRASE_MIN_CHARS), error=True)
        elif passphrase != self.passphrase_again.text():
            self.backup_status.say(tr("account.passphrase_mismatch"), error=True)
        else:
            self._backup_busy(True)
            self.session.back_up_keys(passphrase, start_over=self.start_over.isChecked(), owner=self).then(
                lambda version: self._backup_done(tr("account.backed_up", version=version))).fail(self._backup_refused)

    def restore_keys(self) -> None:
        if not self.passphrase.text():
            self.backup_status.say(tr("account.passphrase_short", count=1), error=True)
            return
        self._backup_busy(True)
        self.session.restore_keys(self.passphrase.text(), owner=self).then(
            lambda count: self._backup_done(tr("account.restored", count=count))).fail(self._backup_refused)

    def _backup_busy(self, busy: bool) -> None:
        self.backup_status.clear()
        self.back_up_button.setEnabled(not busy)
        self.restore_button.setEnabled(not busy)

    def _backup_done(self, text: str) -> None:
        self._backup_busy(False)
        self.passphrase_again.clear()
        self.start_over.setChecked(False)
        self.backup_status.say(text)

    def _backup_refused(self, exc: BaseException) -> None:
        self._backup_busy(False)
        self.backup_status.say(refusal_text(exc), error=True)

    # -- password ----------------------------------------------------------------------------------

    def _password_tab(self) -> QWidget:
        self.current_password = QLineEdit()
        self.new_password = QLineEdit()
        self.new_password_again = QLineEdit()
        for field in (self.current_password, self.new_password, self.new_password_again):
            field.setEchoMode(QLineEdit.EchoMode.Password)
        self.change_password_button = QPushButton(tr("account.change_password"))
        self.change_password_button.clicked.connect(self.change_password)
        hint = hint_line(tr("account.password_hint"))
        self.password_status = StatusLine()
        form = QFormLayout()
        form.addRow(tr("account.current_password"), self.current_password)
        form.addRow(tr("account.new_password"), self.new_password)
        form.addRow(tr("account.new_password_again"), self.new_password_again)
        return tab_page(form, hint, button=self.change_password_button, status=self.password_status)

    def change_password(self) -> None:
        current, new = self.current_password.text(), self.new_password.text()
        if not current or not new:
            self.password_status.say(tr("account.password_fill"), error=True)
        elif new != self.new_password_again.text():
            self.password_status.say(tr("account.password_mismatch"), error=True)
        elif new == current:
            self.password_status.say(tr("account.password_same"), error=True)
        else:
            self.password_status.clear()
            self.change_password_button.setEnabled(False)
            # On success the session ends and the app shows the sign-in window, which says why.
            self.session.change_password(current, new, owner=self).fail(self._password_refused)

    def _password_refused(self, exc: BaseException) -> None:
        self.change_password_button.setEnabled(True)
        self.password_status.say(refusal_text(exc), error=True)
        self.session.failed(exc, quiet=True)  # a refusal that ended the session still ends it

    # -- devices ----------------------------------------------------------------------------------

    def _devices_tab(self) -> QWidget:
        self.devices = DeviceListModel(self)
        self.device_view = QListView()
        self.device_view.setModel(self.devices)
        self.device_view.selectionModel().selectionChanged.connect(lambda *_: self._update_device_buttons())
        self.sign_out_device_button = QPushButton(tr("account.sign_out_device"))
        self.sign_out_device_button.clicked.connect(self.sign_out_selected)
        self.sign_out_others_button = QPushButton(tr("account.sign_out_others"))
        self.sign_out_others_button.clicked.connect(self.sign_out_others)
        self.device_status = StatusLine()
        self._update_device_buttons()
        return list_page(self.device_view, self.sign_out_device_button, self.sign_out_others_button,
                         status=self.device_status)

    def load_devices(self) -> None:
        self.session.device_sessions(owner=self).then(self._devices_arrived).fail(self._device_refused)

    def _devices_arrived(self, devices: list[dict]) -> None:
        self.devices.reset(devices)
        self.devices_loaded = True
        self._update_device_buttons()

    def _device_refused(self, exc: BaseException) -> None:
        self.device_status.say(refusal_text(exc), error=True)
        self.session.failed(exc, quiet=True)

    def selected_device(self) -> dict | None:
        return selected_row(self.device_view)

    def select_device(self, name: str) -> bool:
        """Select the device called `name`; True if listed."""
        return select_row(self.device_view, lambda device: device.get("device_name") == name)

    def _update_device_buttons(self) -> None:
        self.sign_out_device_button.setEnabled(self.selected_device() is not None)
        self.sign_out_others_button.setEnabled(any(not d.get("is_current") for d in self.devices.devices()))

    def sign_out_selected(self) -> None:
        device = self.selected_device()
        if device is not None:
            self.device_status.clear()
            self.session.sign_out_device(device["id"], owner=self).then(lambda _: self.load_devices()).fail(
                self._device_refused)

    def sign_out_others(self) -> None:
        self.device_status.clear()
        self.session.sign_out_other_devices(owner=self).then(lambda _: self.load_devices()).fail(
            self._device_refused)
