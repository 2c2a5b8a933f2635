"""The search dialog: messages found in this computer's local index (the plaintext it has
read, end-to-end encrypted text included), newest first, each with its room, sender, time
and the words found highlighted. Choosing one asks to open its room at that message.
"""

from __future__ import annotations

import html
from typing import Any, Callable

from PySide6.QtCore import QModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QTextDocument
from PySide6.QtWidgets import (
    QDialog,
    QLineEdit,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from messenger.client.i18n import tr
from messenger.client.services.search_index import SearchHit
from messenger.client.ui.account import when_text
from messenger.client.ui.dialog_parts import hint_line
from messenger.client.ui.session import ChatSession
from messenger.client.ui.models import ITEM_ROLE, RowListModel

TYPING_PAUSE_MS = 250  # search once the user stops typing
HIT_BACKGROUND = "#FFE082"
META_COLOUR = "#7A8291"
SELECTED_BACKGROUND = QColor("#E3ECFA")
DIVIDER = "#E1E5EB"


def hit_html(hit: SearchHit, room_title: str) -> str:
    """Two lines of rich text: where and when, then the snippet with the words found marked."""
    meta = " · ".join(html.escape(part) for part in (room_title, hit.sender_name, when_text(hit.created_at)) if part)
    snippet = "".join(f'<span style="background:{HIT_BACKGROUND}; font-weight:600">{html.escape(text)}</span>'
                      if is_hit else html.escape(text) for text, is_hit in hit.snippet())
    return f'<div style="color:{META_COLOUR}">{meta}</div><div>{snippet}</div>'


class SearchResultsModel(RowListModel[SearchHit]):
    def __init__(self, room_title: Callable[[int], str], parent=None):
        super().__init__(parent)
        self.room_title = room_title

    def row_data(self, hit: SearchHit, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return hit_html(hit, self.room_title(hit.room_id))
        return None

    hits = RowListModel.rows



class RichTextDelegate(QStyledItemDelegate):
    """Paints a row's DisplayRole as rich text (the highlighted snippet), as wide as the view."""

    PADDING = 6

    def _document(self, index: QModelIndex, width: int, font) -> QTextDocument:
        document = QTextDocument()
        document.setDefaultFont(font)
        document.setHtml(index.data(Qt.ItemDataRole.DisplayRole) or "")
        document.setTextWidth(max(0, width - 2 * self.PADDING))
        return document

    def paint(self, painter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        painter.save()
        # A light selection: the marked words must stay readable on it.
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, SELECTED_BACKGROUND)
        painter.setPen(QColor(DIVIDER))
        painter.drawLine(option.rect.bottomLeft(), option.rect.bottomRight())
        painter.translate(option.rect.left() + self.PADDING, option.rect.top() + self.PADDING)
        self._document(index, option.rect.width(), option.font).drawContents(painter)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        width = self.parent().viewport().width()
        document = self._document(index, width, option.font)
        return QSize(width, int(document.size().height()) + 2 * self.PADDING)


class SearchDialog(QDialog):
    open_room = Signal(int, int)  # (room_id, message_id): show the room at that message

    def __init__(self, session: ChatSession, parent: QWidget | None = None,
                 room_title: Callable[[int], str] | None = None):
        """`room_title(room_id)` names a result's room (the main window's room list knows it)."""
        super().__init__(parent)
        self.session = session
        self.setWindowTitle(tr("search.title"))
        self.resize(560, 520)
        self.query = QLineEdit()
        self.query.setPlaceholderText(tr("search.hint"))
        self.query.setClearButtonEnabled(True)
        self.results = SearchResultsModel(room_title or (lambda room_id: ""), self)
        self.view = QListView()
        self.view.setModel(self.results)
        self.view.setItemDelegate(RichTextDelegate(self.view))
        self.view.setWordWrap(True)
        self.view.setUniformItemSizes(False)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.activated.connect(self._chosen)  # a double click, or Enter
        self.status = hint_line(tr("search.where"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.query)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.status)
        self._pause = QTimer(self, singleShot=True, interval=TYPING_PAUSE_MS)
        self._pause.timeout.connect(self.search)
        self.query.textChanged.connect(lambda _: self._pause.start())
        self.query.returnPressed.connect(self.search)
        self._asked = 0  # numbers each search: only the latest one's answer is shown
        self.searched = ""  # the query whose results are shown

    def search(self) -> None:
        self._pause.stop()
        query = self.query.text().strip()
        self._asked += 1
        asked = self._asked
        if not query:
            self._show(asked, query, [])
            return
        self.session.search_messages(query, owner=self).then(lambda hits: self._show(asked, query, hits))

    def _show(self, asked: int, query: str, hits: list[SearchHit]) -> None:
        if asked != self._asked:
            return
        self.results.reset(hits)
        self.searched = query
        if not query:
            self.status.setText(tr("search.where"))
        else:
            self.status.setText(tr("search.found", count=len(hits)) if hits else tr("search.none"))
        if hits:
            self.view.setCurrentIndex(self.results.index(0))

    def _chosen(self, index: QModelIndex) -> None:
        hit: SearchHit | None = index.data(ITEM_ROLE)
        if hit is not None:
            self.open_room.emit(hit.room_id, hit.message_id)
            self.accept()
