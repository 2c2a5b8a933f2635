"""Signing in: the login window and the registration dialog.

Both only collect input and show answers; the app does the calls (through the bridge)
and tells them how it went. Refusals are shown in the server's own localized words.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from messenger.client.i18n import tr
from messenger.client.services.settings import is_server_url
from messenger.client.ui.bridge import Call
from messenger.client.ui.dialog_parts import StatusLine, ok_cancel_buttons, refusal_text
from messenger.client.ui.first_start import FoundServers
from messenger.client.ui.tray import app_icon


def error_label() -> StatusLine:
    label = StatusLine()
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label


def new_account_fields() -> tuple[QLineEdit, QLineEdit, QLineEdit]:
    """The username, nickname and password fields of a new account (signing up, or an admin
    creating one), cut to the server's lengths."""
    username = QLineEdit()
    username.setMaxLength(20)
    nickname = QLineEdit()
    nickname.setMaxLength(20)
    password = QLineEdit()
    password.setEchoMode(QLineEdit.EchoMode.Password)
    return username, nickname, password


class LoginWindow(QWidget):
    # (server url, username, password, device name, remember)
    sign_in_requested = Signal(str, str, str, str, bool)
    register_requested = Signal(str)  # the server url
    server_chosen = Signal(str)  # the server field was left with a valid address

    def __init__(self, server_url: str = "", username: str = "", device_name: str = "", remember: bool = True,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowIcon(app_icon())
        self.setMinimumWidth(400)
        self.heading = QLabel()
        heading_font = QFont(self.font())
        heading_font.setPointSizeF(max(heading_font.pointSizeF(), 9) * 1.5)
        heading_font.setBold(True)
        self.heading.setFont(heading_font)
        self.heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.logo = QLabel()
        self.logo.setPixmap(app_icon().pixmap(64, 64))
        self.logo.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.server = QLineEdit(server_url)
        self.server.editingFinished.connect(self._server_left)
        self.username = QLineEdit(username)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.device = QLineEdit(device_name)
        self.device.setMaxLength(100)
        self.remember = QCheckBox()
        self.remember.setChecked(remember)
        self.sign_in = QPushButton()
        self.sign_in.setDefault(True)
        self.sign_in.setMinimumHeight(34)
        self.sign_in.clicked.connect(self._submit)
        for field in (self.server, self.username, self.password, self.device):
            field.returnPressed.connect(self._submit)
        self.register_link = QLabel()
        self.register_link.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.register_link.linkActivated.connect(lambda _: self.register_requested.emit(self.server_url()))
        self.message = error_label()
        # Servers announced on the office network; a click fills the address (an address already
        # there, from the installer or the last sign-in, is only replaced by a click).
        self.found_servers = FoundServers()
        self.found_servers.picked.connect(self._server_picked)

        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.server_label, self.username_label = QLabel(), QLabel()
        self.password_label, self.device_label = QLabel(), QLabel()
        self.form.addRow(self.server_label, self.server)
        self.form.addRow(self.username_label, self.username)
        self.form.addRow(self.password_label, self.password)
        self.form.addRow(self.device_label, self.device)
        self.form.addRow("", self.remember)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 24)
        layout.setSpacing(12)
        layout.addWidget(self.logo)
        layout.addWidget(self.heading)
        layout.addLayout(self.form)
        layout.addWidget(self.found_servers)
        layout.addWidget(self.message)
        layout.addWidget(self.sign_in)
        layout.addWidget(self.register_link)
        self.retranslate()
        (self.username if server_url and not username else self.password if username else self.server).setFocus()

    def retranslate(self) -> None:
        self.setWindowTitle(tr("login.title"))
        self.heading.setText(tr("app.name"))
        self.server_label.setText(tr("login.server"))
        self.server.setPlaceholderText(tr("login.server_hint"))
        self.username_label.setText(tr("login.username"))
        self.password_label.setText(tr("login.password"))
        self.device_label.setText(tr("login.device"))
        self.remember.setText(tr("login.remember"))
        self.sign_in.setText(tr("login.sign_in"))
        self.register_link.setText(f'<a href="register">{tr("login.register")}</a>')

    def server_url(self) -> str:
        return self.server.text().strip()

    def offer_server(self, url: str) -> None:
        """Fill in a server found on this computer; the focus moves on to the username."""
        self.server.setText(url)
        if self.server.hasFocus():
            self.username.setFocus()

    def set_busy(self, busy: bool, text: str = "") -> None:
        for widget in (self.server, self.username, self.password, self.device, self.remember, self.sign_in):
            widget.setEnabled(not busy)
        self.sign_in.setText(tr("login.signing_in") if busy else tr("login.sign_in"))
        if busy and text:
            self.show_info(text)

    def show_error(self, text: str) -> None:
        self.message.say(text, error=True)
        self.message.setVisible(bool(text))

    def show_info(self, text: str) -> None:
        self.message.say(text)
        self.message.setVisible(bool(text))

    def set_registration_open(self, is_open: bool) -> None:
        self.register_link.setVisible(is_open)

    def _server_picked(self, url: str) -> None:
        self.server.setText(url)
        self._server_left()
        (self.password if self.username.text() else self.username).setFocus()

    def _server_left(self) -> None:
        if is_server_url(self.server_url()) and self.server_url():
            self.server_chosen.emit(self.server_url())

    def _submit(self) -> None:
        if not self.sign_in.isEnabled():
            return
        server, username, password = self.server_url(), self.username.text().strip(), self.password.text()
        if not (server and username and password):
            self.show_error(tr("login.fill_all"))
            return
        if not is_server_url(server):
            self.show_error(tr("login.bad_server"))
            return
        self.show_error("")
        device = self.device.text().strip() or "desktop"
        self.sign_in_requested.emit(server, username, password, device, self.remember.isChecked())


class RegisterDialog(QDialog):
    """Create an account on the server; `register(username, password, nickname)` makes the call."""

    def __init__(self, register: Callable[[str, str, str], Call], parent: QWidget | None = None):
        super().__init__(parent)
        self.register = register
        self.registered_username = ""
        self.setWindowTitle(tr("register.title"))
        self.setMinimumWidth(360)
        self.username, self.nickname, self.password = new_account_fields()
        self.confirm = QLineEdit()
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        self.message = error_label()
        form = QFormLayout()
        form.addRow(tr("login.username"), self.username)
        form.addRow(tr("register.nickname"), self.nickname)
        form.addRow(tr("login.password"), self.password)
        form.addRow(tr("register.confirm"), self.confirm)
        self.buttons = ok_cancel_buttons(self, self._submit)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(tr("register.submit"))
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)

    def _submit(self) -> None:
        username, password = self.username.text().strip(), self.password.text()
        if not username or not password:
            self._error(tr("login.fill_all"))
            return
        if password != self.confirm.text():
            self._error(tr("register.mismatch"))
            return
        self.buttons.setEnabled(False)
        call = self.register(username, password, self.nickname.text().strip() or username)
        call.then(lambda user: self._done(user["username"])).fail(self._failed).always(
            lambda: self.buttons.setEnabled(True))

    def _done(self, username: str) -> None:
        self.registered_username = username
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self._error(refusal_text(exc))

    def _error(self, text: str) -> None:
        self.message.say(text, error=True)
        self.message.setVisible(True)
