"""The settings dialog: a form over the declared client settings, saved in one write; the
version and the updater's status line, with "Check now" and "Restart to update"."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from messenger.client.i18n import LANGUAGE_NAMES, tr
from messenger.client.services.session_store import normalize_server_url
from messenger.client.services.settings import AUTO, LANGUAGES, UPDATE_CHANNELS, ClientSettings, is_server_url
from messenger.client.ui.dialog_parts import StatusLine, ok_cancel_buttons, text_line
from messenger.client.ui.updates import Updates


class SettingsDialog(QDialog):
    test_notification_requested = Signal()
    notification_doctor_requested = Signal()  # "Why don't I see notifications?"

    def __init__(self, settings: ClientSettings, *, signed_in: bool, tray_available: bool,
                 updates: Updates, start_at_login_by_it: bool = False, parent: QWidget | None = None):
        """`updates`: the updater's status; `start_at_login_by_it`: the installer made the
        program start for every user, which this user's setting cannot undo."""
        super().__init__(parent)
        self.updates = updates
        self.settings = settings
        self.signed_in = signed_in
        self.setWindowTitle(tr("settings.title"))
        self.setMinimumWidth(440)

        self.server = QLineEdit(settings.server_url)
        self.device = QLineEdit(settings.device_name)
        self.device.setMaxLength(100)
        self.language = QComboBox()
        for code in LANGUAGES:
            self.language.addItem(tr("settings.language_auto") if code == AUTO else LANGUAGE_NAMES[code], code)
        self.language.setCurrentIndex(LANGUAGES.index(settings.language))
        self.notifications = QCheckBox(tr("settings.notifications"))
        self.notifications.setChecked(settings.notifications)
        self.start_at_login = QCheckBox(tr("settings.start_at_login"))
        self.start_at_login.setChecked(settings.start_at_login or start_at_login_by_it)
        if start_at_login_by_it:
            self.start_at_login.setEnabled(False)
            self.start_at_login.setToolTip(tr("settings.start_at_login_it"))
        self.test_notification = QPushButton(tr("settings.test_notification"))
        self.test_notification.clicked.connect(self.test_notification_requested.emit)
        self.notification_doctor = QPushButton(tr("doctor.open"))
        self.notification_doctor.clicked.connect(self.notification_doctor_requested.emit)
        self.close_to_tray = QCheckBox(tr("settings.close_to_tray"))
        self.close_to_tray.setChecked(settings.close_to_tray)
        # Without a tray, closing the window has to quit: nothing would be left to reopen it.
        self.close_to_tray.setEnabled(tray_available)
        self.update_channel = QComboBox()
        for channel in UPDATE_CHANNELS:
            self.update_channel.addItem(tr(f"settings.channel_{channel}"), channel)
        self.update_channel.setCurrentIndex(UPDATE_CHANNELS.index(settings.update_channel))
        self.update_status = text_line()
        self.check_now = QPushButton(tr("update.check_now"))
        self.check_now.clicked.connect(self._check_now)
        self.restart = QPushButton(tr("update.restart"))
        self.restart.clicked.connect(updates.restart_requested.emit)
        updates.changed.connect(self._show_update)
        self.finished.connect(lambda: updates.changed.disconnect(self._show_update))  # updates outlive dialogs
        self._show_update()
        # What IT's policy sets (HKLM\Software\Policies\Messenger) is shown, not editable.
        for name, widget in (("server_url", self.server), ("update_channel", self.update_channel),
                             ("start_at_login", self.start_at_login)):
            if name in settings.locked:
                widget.setEnabled(False)
                widget.setToolTip(tr("settings.locked_by_policy"))
        self.message = StatusLine()
        self.message.hide()

        form = QFormLayout()
        form.addRow(tr("settings.server"), self.server)
        form.addRow(tr("settings.device"), self.device)
        form.addRow(tr("settings.language"), self.language)
        form.addRow(tr("settings.update_channel"), self.update_channel)
        form.addRow(tr("settings.version"), QLabel(updates.version))
        update_row = QHBoxLayout()
        update_row.addWidget(self.update_status, 1)
        update_row.addWidget(self.check_now)
        update_row.addWidget(self.restart)
        form.addRow(tr("settings.updates"), update_row)
        notifications_row = QHBoxLayout()
        notifications_row.addWidget(self.notifications, 1)
        notifications_row.addWidget(self.test_notification)
        form.addRow("", notifications_row)
        form.addRow("", self.notification_doctor)
        form.addRow("", self.start_at_login)
        form.addRow("", self.close_to_tray)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(ok_cancel_buttons(self, self.save))

    def chosen(self) -> dict:
        """The settings as the form has them."""
        server = self.server.text().strip()
        return {
            "server_url": normalize_server_url(server) if server else "",
            "device_name": self.device.text().strip(),
            "language": self.language.currentData(),
            "notifications": self.notifications.isChecked(),
            "start_at_login": self.start_at_login.isChecked(),
            "close_to_tray": self.close_to_tray.isChecked(),
            "update_channel": self.update_channel.currentData(),
        }

    def save(self) -> None:
        """Check and save everything in one write (nothing is saved if a value is refused).
        Moving to another server while signed in signs out, so it is confirmed first."""
        values = self.chosen()
        if not is_server_url(values["server_url"]):
            self._error(tr("login.bad_server"))
            return
        if not values["device_name"]:
            values.pop("device_name")
        server_moves = values["server_url"] != normalize_server_url(self.settings.server_url)
        if self.signed_in and server_moves:
            answer = QMessageBox.question(self, tr("settings.title"), tr("settings.server_change"))
            if answer != QMessageBox.StandardButton.Yes:
                return
        try:
            self.settings.update(**values)
        except ValueError as exc:
            self._error(str(exc))
            return
        self.accept()

    def _show_update(self) -> None:
        self.update_status.setText(self.updates.status)
        self.check_now.setEnabled(self.updates.enabled and not self.updates.checking)
        self.restart.setVisible(self.updates.ready)

    def _check_now(self) -> None:
        """Check on the channel chosen here: it is saved first, being what the check reads."""
        self.settings.update_channel = self.update_channel.currentData()
        self.updates.check_now()

    def _error(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(True)
