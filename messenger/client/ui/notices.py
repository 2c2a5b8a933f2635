"""Room notices: the list of a room's notices, adding one as free text, removing one.

A message is posted as a notice from its context menu in the main window (`post_as_notice`);
its notice shows the message as this device reads it (decrypted, like its bubble). The list
follows the server's pin_updated events, so a notice added on another desk shows up here too.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLineEdit,
    QListView,
    QPushButton,
    QVBoxLayout,
)

from messenger.client.i18n import tr
from messenger.client.ui.message_text import MessageText
from messenger.client.ui.session import ChatSession
from messenger.client.ui.dialog_parts import StatusLine, close_buttons
from messenger.client.ui.models import RowListModel, select_row, selected_row
from messenger.core import protocol



def notice_text(notice: dict, text: MessageText) -> str:
    """What a notice says: its free text, or the pinned message as this device reads it."""
    if notice.get("content"):
        return notice["content"]
    message = notice.get("message") or {}
    if message.get("deleted"):
        return tr("message.deleted")
    return text.of(notice["room_id"], message) if message else ""


class NoticeListModel(RowListModel[dict]):
    """A room's notices, newest first."""

    def __init__(self, text: MessageText, parent=None):
        super().__init__(parent)
        self.text = text
        self._shown: dict[int, str] = {}  # notice id -> what it says, read once (not at each paint)

    def row_data(self, notice: dict, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return tr("notices.by", text=self._shown[notice["id"]], name=notice.get("pinned_by_name") or "")
        return None

    def ordered(self, notices: list[dict]) -> list[dict]:
        ordered = sorted(notices, key=lambda n: n["id"], reverse=True)
        self._shown = {notice["id"]: self._shown.get(notice["id"]) or notice_text(notice, self.text)
                       for notice in ordered}
        return ordered

    def apply(self, action: str, notice: dict) -> None:
        """A pin_updated event: add or remove one notice."""
        rest = [n for n in self._rows if n["id"] != notice.get("id")]
        self.reset(rest + [notice] if action == "added" else rest)

    notices = RowListModel.rows

    def shown(self) -> list[str]:
        """What each notice says, as listed."""
        return [self._shown[notice["id"]] for notice in self._rows]

    def reread(self) -> None:
        """The room's keys changed here: a pinned message not shown may read now."""
        self._shown = {notice["id"]: notice_text(notice, self.text) for notice in self._rows}
        if self._rows:
            self.dataChanged.emit(self.index(0), self.index(len(self._rows) - 1))


def post_as_notice(session: ChatSession, room_id: int, message_id: int) -> None:
    """Make a message of the room a notice (from the message's context menu)."""
    session.add_notice(room_id, message_id=message_id)


class NoticesDialog(QDialog):
    """The notices of one room: read, add as text, remove."""

    def __init__(self, session: ChatSession, room_id: int, text: MessageText, parent=None):
        """`text`: how this device reads the room's messages (the main window's)."""
        super().__init__(parent)
        self.session = session
        self.room_id = room_id
        self.setWindowTitle(tr("notices.title"))
        self.resize(420, 420)
        self.model = NoticeListModel(text, self)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setWordWrap(True)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.text = QLineEdit()
        self.text.setPlaceholderText(tr("notices.hint"))
        self.text.textChanged.connect(lambda *_: self._update_buttons())
        self.text.returnPressed.connect(self.add)
        self.add_button = QPushButton(tr("notices.add"))
        self.add_button.clicked.connect(self.add)
        self.remove_button = QPushButton(tr("notices.remove"))
        self.remove_button.clicked.connect(self.remove_selected)
        self.error = StatusLine()
        add_row = QHBoxLayout()
        add_row.addWidget(self.text, 1)
        add_row.addWidget(self.add_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.remove_button)
        bottom.addStretch(1)
        bottom.addWidget(close_buttons(self))
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addLayout(add_row)
        layout.addWidget(self.error)
        layout.addLayout(bottom)
        self.loaded = False
        self._update_buttons()
        session.event_received.connect(self._on_event)
        session.room_keys_changed.connect(self._keys_changed)
        session.notices(room_id, text.read_page, owner=self).then(self._arrived)

    def _arrived(self, notices: list[dict]) -> None:
        self.model.reset(notices)
        self.loaded = True

    def _on_event(self, name: str, data: dict) -> None:
        if name == protocol.PIN_UPDATED and data.get("room_id") == self.room_id and isinstance(data.get("pin"), dict):
            self.model.apply(data.get("action") or "", data["pin"])
            self._update_buttons()
        elif name == protocol.ROOM_UPDATED and data.get("room_id") == self.room_id and data.get("action") == "removed":
            self.reject()

    def _keys_changed(self, room_id: int) -> None:
        if room_id == self.room_id:
            self.model.reread()

    def _update_buttons(self) -> None:
        self.add_button.setEnabled(bool(self.text.text().strip()))
        self.remove_button.setEnabled(bool(self.view.selectionModel().selectedIndexes()))

    def add(self) -> None:
        text = self.text.text().strip()
        if text:
            self.error.clear()
            self.text.clear()
            self.session.add_notice(self.room_id, content=text, owner=self).fail(self.error.show_refusal)

    def select(self, notice_id: int) -> bool:
        return select_row(self.view, lambda notice: notice["id"] == notice_id)

    def remove_selected(self) -> None:
        notice = selected_row(self.view)
        if notice is not None:
            self.error.clear()
            self.session.remove_notice(self.room_id, notice["id"], owner=self).fail(self.error.show_refusal)
