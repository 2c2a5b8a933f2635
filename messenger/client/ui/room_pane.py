"""The left of the main window: who is signed in, the new-conversation button, and the rooms."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QAction, QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListView, QToolButton, QVBoxLayout, QWidget

from messenger.client.ui.delegates import RoomDelegate
from messenger.client.ui.models import ITEM_ROLE
from messenger.client.ui.room_list import RoomItem, RoomListModel


class RoomPane(QWidget):
    """`room_picked(room_id)`: the user clicked (or keyed to) a room in the list."""

    room_picked = Signal(int)

    def __init__(self, rooms: RoomListModel, new_room_action: QAction, parent: QWidget | None = None):
        super().__init__(parent)
        self.rooms = rooms
        self.setObjectName("roomPane")
        self.setStyleSheet("#roomPane, #roomPane QListView { background: white; }")
        self.me_label = QLabel()
        bold = QFont(self.font())
        bold.setBold(True)
        self.me_label.setFont(bold)
        self.me_label.setContentsMargins(12, 10, 12, 6)
        self.new_room_button = QToolButton()
        self.new_room_button.setDefaultAction(new_room_action)
        self.new_room_button.setAutoRaise(True)
        self.new_room_button.setIconSize(QSize(22, 22))
        me_row = QHBoxLayout()
        me_row.setContentsMargins(0, 0, 8, 0)
        me_row.addWidget(self.me_label, 1)
        me_row.addWidget(self.new_room_button)
        self.room_view = QListView()
        self.room_view.setModel(rooms)
        self.room_view.setItemDelegate(RoomDelegate(self.room_view))
        self.room_view.setMouseTracking(True)
        self.room_view.setFrameShape(QListView.Shape.NoFrame)
        self.room_view.setUniformItemSizes(True)
        self.room_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.room_view.selectionModel().currentChanged.connect(self._picked)
        self.no_rooms = QLabel()
        self.no_rooms.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.no_rooms.setStyleSheet("color: #7A8291;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(me_row)
        layout.addWidget(self.no_rooms)
        layout.addWidget(self.room_view, 1)

    def select_quietly(self, room_id: int | None) -> None:
        """Highlight a room in the list without that counting as a click."""
        row = self.rooms.row_of(room_id) if room_id is not None else None
        selection = self.room_view.selectionModel()
        blocked = selection.blockSignals(True)
        if row is None:
            selection.clearCurrentIndex()
            selection.clearSelection()
        else:
            selection.setCurrentIndex(self.rooms.index(row), QItemSelectionModel.SelectionFlag.ClearAndSelect)
        selection.blockSignals(blocked)
        self.room_view.viewport().update()

    def _picked(self, current: QModelIndex, _previous: QModelIndex) -> None:
        room: RoomItem | None = current.data(ITEM_ROLE)
        if room is not None:
            self.room_picked.emit(room.room_id)
