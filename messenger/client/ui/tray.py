"""The tray icon: open, status, restart to update, quit; the unread total; desktop notifications.

On a desktop without a system tray (or under the offscreen platform) the icon is never
shown, the main window stays the way in and out, and notifications fall back to asking
the window manager for attention.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QColor, QFont, QIcon, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from messenger.client.i18n import tr
from messenger.client.services.desktop_notifications import DesktopNotifications

ICON_BLUE = QColor("#3B6FE0")
ICON_SIZES = (16, 20, 24, 32, 40, 48, 64, 128, 256)  # also those of the program's .ico (build/app_icon.py)


def app_icon(unread: int = 0) -> QIcon:
    """The messenger's icon (a speech bubble), with a red dot when something is unread."""
    icon = QIcon()
    for size in ICON_SIZES:
        icon.addPixmap(_icon_pixmap(size, unread))
    return icon


def _icon_pixmap(size: int, unread: int) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    unit = size / 16
    bubble = QPainterPath()
    bubble.addRoundedRect(QRectF(1 * unit, 2 * unit, 14 * unit, 10 * unit), 3.5 * unit, 3.5 * unit)
    tail = QPainterPath()
    tail.moveTo(QPointF(4 * unit, 11 * unit))
    tail.lineTo(QPointF(3.5 * unit, 15 * unit))
    tail.lineTo(QPointF(8 * unit, 11 * unit))
    tail.closeSubpath()
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(ICON_BLUE)
    painter.drawPath(bubble.united(tail))
    painter.setBrush(QColor("white"))
    for x in (5, 8, 11):
        painter.drawEllipse(QPointF(x * unit, 7 * unit), 1.1 * unit, 1.1 * unit)
    if unread:
        painter.setBrush(QColor("#F04438"))
        painter.setPen(QColor("white"))
        painter.drawEllipse(QRectF(9.5 * unit, 0.2 * unit, 6.3 * unit, 6.3 * unit))
        if size >= 32:
            font = QFont()
            font.setBold(True)
            font.setPixelSize(int(4.2 * unit))
            painter.setFont(font)
            painter.drawText(QRectF(9.5 * unit, 0.2 * unit, 6.3 * unit, 6.3 * unit), Qt.AlignmentFlag.AlignCenter,
                             "9+" if unread > 9 else str(unread))
    painter.end()
    return pixmap


class Tray(QObject):
    open_requested = Signal()
    quit_requested = Signal()
    restart_requested = Signal()  # "Restart to update": a downloaded update waits
    notification_clicked = Signal(int)  # the room of the last notification (a tray message carries no id)
    notified = Signal(int, str, str)  # every notification given: (room_id, title, text)

    def __init__(self, parent: QObject | None = None, desktop_notifications: DesktopNotifications | None = None):
        """`desktop_notifications`: the desktop's own notification service, which shows them
        when it is there (its clicks come to the owner, not through the tray)."""
        super().__init__(parent)
        self.desktop_notifications = desktop_notifications
        self.available = QSystemTrayIcon.isSystemTrayAvailable()
        self.unread = 0
        self.status_text = ""
        self._last_room: int | None = None
        self.icon = QSystemTrayIcon(app_icon(), self)
        self.menu = QMenu()
        self.open_action = QAction(self.menu)
        self.open_action.triggered.connect(self.open_requested.emit)
        self.status_action = QAction(self.menu)
        self.status_action.setEnabled(False)
        self.restart_action = QAction(self.menu, visible=False)
        self.restart_action.triggered.connect(self.restart_requested.emit)
        self.quit_action = QAction(self.menu)
        self.quit_action.triggered.connect(self.quit_requested.emit)
        self.menu.addAction(self.open_action)
        self.menu.addAction(self.status_action)
        self.menu.addAction(self.restart_action)
        self.menu.addSeparator()
        self.menu.addAction(self.quit_action)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.icon.messageClicked.connect(self._message_clicked)
        self.retranslate()

    def show(self) -> None:
        if self.available:
            self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def retranslate(self) -> None:
        self.open_action.setText(tr("tray.open"))
        self.quit_action.setText(tr("main.quit"))
        self.restart_action.setText(tr("update.restart"))
        self.set_status(self.status_text)
        self.set_unread(self.unread)

    def set_status(self, text: str) -> None:
        """The menu's status line: who is signed in and how the connection is."""
        self.status_text = text
        self.status_action.setText(text or tr("tray.signed_out"))

    def set_unread(self, count: int) -> None:
        changed = bool(count) != bool(self.unread)
        self.unread = count
        self.icon.setToolTip(tr("tray.tooltip_unread", count=count) if count else tr("tray.tooltip"))
        if changed:
            self.icon.setIcon(app_icon(count))

    def set_update_ready(self, ready: bool) -> None:
        self.restart_action.setVisible(ready)

    @property
    def tooltip(self) -> str:
        return self.icon.toolTip()

    def notify(self, room_id: int, title: str, text: str) -> bool:
        """Show a desktop notification; True if it could be shown (the desktop's notification
        service, else the tray's)."""
        self._last_room = room_id
        self.notified.emit(room_id, title, text)
        if self.desktop_notifications is not None and self.desktop_notifications.show(room_id, title, text):
            return True
        if self.available and QSystemTrayIcon.supportsMessages():
            self.icon.showMessage(title, text, app_icon(), 5000)
            return True
        return False

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.open_requested.emit()

    def _message_clicked(self) -> None:
        if self._last_room is not None:
            self.notification_clicked.emit(self._last_room)
