"""The open room's messages on screen: the bubbles (ChatDelegate), following the newest while
the user reads there, older pages loaded when scrolled to the top, and one message brought
into view (a search hit)."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QAbstractItemView, QListView, QWidget

from messenger.client.ui.chat_model import ChatModel
from messenger.client.ui.delegates import CHAT_BACKGROUND, ChatDelegate
from messenger.client.ui.files import Thumbnails
from messenger.client.ui.session import ChatSession

AT_BOTTOM_SLACK = 40  # pixels from the end that still count as "reading the newest"


class ChatView(QListView):
    """`loading_older(bool)`: an older page is on its way (or no longer)."""

    loading_older = Signal(bool)

    def __init__(self, chat: ChatModel, session: ChatSession, opening: Callable[[], bool],
                 parent: QWidget | None = None):
        """`opening()`: whether a room's first page is on its way (no older page is asked then)."""
        super().__init__(parent)
        self.chat = chat
        self.session = session
        self._opening = opening
        self.following = True  # the view shows the newest messages and keeps showing them
        self._loading = False
        self._wanted: tuple[int, int] | None = None  # (room, message) to bring into view once loaded
        self.setModel(chat)
        self.delegate = ChatDelegate(self)
        self.setItemDelegate(self.delegate)
        self.thumbnails = Thumbnails(session, self)
        self.delegate.thumbnails = self.thumbnails
        self.thumbnails.ready.connect(self._thumbnail_ready)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setUniformItemSizes(False)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setFrameShape(QListView.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setStyleSheet(f"QListView {{ background: {CHAT_BACKGROUND.name()}; }}")
        self.verticalScrollBar().valueChanged.connect(self._scrolled)
        self.verticalScrollBar().rangeChanged.connect(self._range_changed)
        # A bubble's height can change (reactions, state): have the view measure it again.
        chat.dataChanged.connect(lambda top, bottom, roles=(): self.delegate.sizeHintChanged.emit(top))

    def room_changing(self, room_id: int) -> None:
        """Another room opens: a message wanted elsewhere is forgotten."""
        if self._wanted is not None and self._wanted[0] != room_id:
            self._wanted = None

    def first_page_shown(self) -> None:
        """The room's first page is in: from its newest message, or where the unread ones begin."""
        self.scroll_to_bottom()
        divider = self.chat.new_divider_row()
        if divider is not None:
            self.scrollTo(self.chat.index(divider), QAbstractItemView.ScrollHint.PositionAtTop)

    def want(self, room_id: int, message_id: int) -> None:
        """Bring this message into view once its room is open (older pages load until it is there)."""
        self._wanted = (room_id, message_id)

    def seek_wanted(self) -> None:
        if self._wanted is None or self._wanted[0] != self.chat.room_id:
            return
        message_id = self._wanted[1]
        row = self.chat.row_of_message(message_id)
        if row is not None:
            self._wanted = None
            self.following = False
            self.scrollTo(self.chat.index(row), QAbstractItemView.ScrollHint.PositionAtCenter)
        elif self.chat.has_more and (self.chat.oldest_id() or 0) > message_id:
            self.load_older()  # its page arrives in _older_done, which seeks again
        else:
            self._wanted = None  # deleted since it was found

    def scroll_to_bottom(self) -> None:
        self.following = True
        self.doItemsLayout()
        self.scrollToBottom()
        QTimer.singleShot(0, self, self._fill_viewport)  # not after the view is gone

    def _range_changed(self, _minimum: int, maximum: int) -> None:
        # Rows grew or the view shrank: whoever was reading the newest still is.
        if self.following:
            self.verticalScrollBar().setValue(maximum)

    def _fill_viewport(self) -> None:
        """A first page shorter than the window shows no scroll bar to pull: load more now."""
        if self.chat.room_id is not None and self.verticalScrollBar().maximum() == 0:
            self.load_older()

    def _scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self.following = value >= bar.maximum() - AT_BOTTOM_SLACK
        if value == bar.minimum():
            self.load_older()

    def load_older(self) -> None:
        room_id, before = self.chat.room_id, self.chat.oldest_id()
        if self._loading or self._opening() or room_id is None or not self.chat.has_more or before is None:
            return
        self._loading = True
        self.loading_older.emit(True)
        self.session.older(room_id, before, self.chat.text.read_page, owner=self).then(
            lambda page: self._older_arrived(room_id, page)).always(self._older_done)

    def _older_arrived(self, room_id: int, page: dict) -> None:
        if room_id != self.chat.room_id:
            return
        added = self.chat.prepend(page)
        if added:
            # Keep what the user was reading where it was: the old first row stays on top.
            self.doItemsLayout()
            self.scrollTo(self.chat.index(added), QAbstractItemView.ScrollHint.PositionAtTop)
        QTimer.singleShot(0, self, self._fill_viewport)  # not after the view is gone

    def _older_done(self) -> None:
        self.stop_loading_older()
        self.seek_wanted()

    def stop_loading_older(self) -> None:
        """An older page is no longer awaited (it came, or another room opens)."""
        self._loading = False
        self.loading_older.emit(False)

    def _thumbnail_ready(self, file_id: int) -> None:
        """An image arrived for a bubble: have the view measure and paint its row again."""
        for row, item in enumerate(self.chat.items()):
            if item.file is not None and item.file["id"] == file_id:
                self.chat.dataChanged.emit(self.chat.index(row), self.chat.index(row))
