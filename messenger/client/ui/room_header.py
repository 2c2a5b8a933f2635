"""The bar above the open room's messages: its title, who is in it (or whether the partner is
online), and the buttons to its files, notices, polls and details."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from messenger.client.i18n import tr
from messenger.client.ui.room_list import RoomItem


class RoomHeader(QWidget):
    """Each button's signal asks for that view of the open room."""

    files_requested = Signal()
    notices_requested = Signal()
    polls_requested = Signal()
    info_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("roomHeader")
        self.setStyleSheet("#roomHeader { background: white; border-bottom: 1px solid #E1E5EB; }")
        self.title = QLabel()
        title_font = QFont(self.font())
        title_font.setBold(True)
        title_font.setPointSizeF(max(title_font.pointSizeF(), 9) * 1.15)
        self.title.setFont(title_font)
        self.subtitle = QLabel()
        self.subtitle.setStyleSheet("color: #7A8291;")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 10, 16, 10)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        layout.addStretch(1)
        self.files_button = QToolButton()
        self.files_button.clicked.connect(self.files_requested.emit)
        self.notices_button = QToolButton()
        self.notices_button.clicked.connect(self.notices_requested.emit)
        self.polls_button = QToolButton()
        self.polls_button.clicked.connect(self.polls_requested.emit)
        self.info_button = QToolButton()
        self.info_button.clicked.connect(self.info_requested.emit)
        for button in (self.files_button, self.notices_button, self.polls_button, self.info_button):
            layout.addWidget(button)

    def retranslate(self) -> None:
        self.notices_button.setText(tr("notices.open"))
        self.files_button.setText(tr("files.open"))
        self.polls_button.setText(tr("polls.open"))
        self.info_button.setText(tr("rooms.info"))

    def show_room(self, room: RoomItem | None) -> None:
        self.title.setText(room.title if room else "")
        if room is None:
            self.subtitle.setText("")
        elif room.type == "group":
            self.subtitle.setText(tr("main.members", count=room.member_count))
        else:
            self.subtitle.setText(tr("chat.online") if room.online else tr("chat.offline"))
