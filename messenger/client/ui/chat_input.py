"""Below the open room's messages: the reply bar, the edit bar and the composer row
(attach, emoji, the text box, Send). It holds what the next message answers or rewrites;
the main window decides what a submitted text does."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget

from messenger.client.i18n import tr
from messenger.client.ui.composer import Composer
from messenger.client.ui.emoji import EmojiPicker
from messenger.client.ui.files import Uploads, choose_and_attach
from messenger.client.ui.icons import attach_icon, close_icon, emoji_icon
from messenger.client.ui.chat_model import ChatItem


class ChatInput(QWidget):
    """`submitted(text)`: Enter or Send with text in the box. Esc or the edit bar's ✕ cancels an edit."""

    submitted = Signal(str)

    def __init__(self, uploads: Uploads, room_id: Callable[[], int | None], parent: QWidget | None = None):
        """`room_id()`: the open room, where attached files go."""
        super().__init__(parent)
        self.replying_to: ChatItem | None = None
        self.editing: ChatItem | None = None  # the own message the composer is rewriting

        self.reply_label = QLabel()
        self.reply_label.setStyleSheet("color: #4A5260;")
        self.cancel_reply = QToolButton()
        self.cancel_reply.setIcon(close_icon())
        self.cancel_reply.setAutoRaise(True)
        self.cancel_reply.clicked.connect(self.clear_reply)
        self.reply_bar = QWidget()
        self.reply_bar.setObjectName("replyBar")
        self.reply_bar.setStyleSheet("#replyBar { background: #EEF2FA; }")
        reply_layout = QHBoxLayout(self.reply_bar)
        reply_layout.setContentsMargins(16, 4, 8, 4)
        reply_layout.addWidget(self.reply_label, 1)
        reply_layout.addWidget(self.cancel_reply)
        self.reply_bar.hide()
        self.edit_label = QLabel()
        self.edit_label.setStyleSheet("color: #4A5260;")
        self.cancel_edit = QToolButton()
        self.cancel_edit.setIcon(close_icon())
        self.cancel_edit.setAutoRaise(True)
        self.cancel_edit.clicked.connect(self.stop_editing)
        self.edit_bar = QWidget()
        self.edit_bar.setObjectName("editBar")
        self.edit_bar.setStyleSheet("#editBar { background: #FFF4CC; }")
        edit_layout = QHBoxLayout(self.edit_bar)
        edit_layout.setContentsMargins(16, 4, 8, 4)
        edit_layout.addWidget(self.edit_label, 1)
        edit_layout.addWidget(self.cancel_edit)
        self.edit_bar.hide()

        self.composer = Composer()
        self.composer.setFixedHeight(76)
        self.composer.submitted.connect(self.submitted.emit)
        self.composer.escaped.connect(self.stop_editing)
        self.send_button = QPushButton()
        self.send_button.setMinimumHeight(36)
        self.send_button.clicked.connect(lambda: self.submitted.emit(self.composer.toPlainText().strip()))
        composer_row = QWidget()
        composer_row.setObjectName("composerRow")
        composer_row.setStyleSheet("#composerRow { background: white; }")
        composer_layout = QHBoxLayout(composer_row)
        composer_layout.setContentsMargins(12, 8, 12, 10)
        self.attach_button = QToolButton()
        self.attach_button.setIcon(attach_icon())
        self.attach_button.setIconSize(QSize(22, 22))
        self.attach_button.clicked.connect(lambda: choose_and_attach(self.window(), uploads, room_id()))
        self.emoji_picker = EmojiPicker(self)
        self.emoji_picker.picked.connect(self.insert_emoji)
        self.emoji_button = QToolButton()
        self.emoji_button.setIcon(emoji_icon())
        self.emoji_button.setIconSize(QSize(22, 22))
        self.emoji_button.clicked.connect(lambda: self.emoji_picker.show_above(self.emoji_button))
        composer_layout.addWidget(self.attach_button, 0, Qt.AlignmentFlag.AlignBottom)
        composer_layout.addWidget(self.emoji_button, 0, Qt.AlignmentFlag.AlignBottom)
        composer_layout.addWidget(self.composer, 1)
        composer_layout.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.reply_bar)
        layout.addWidget(self.edit_bar)
        layout.addWidget(composer_row)

    def retranslate(self) -> None:
        self.attach_button.setToolTip(tr("files.attach"))
        self.emoji_button.setToolTip(tr("chat.emoji"))
        self.cancel_edit.setToolTip(tr("chat.cancel_edit"))
        self.composer.setPlaceholderText(tr("main.composer_hint"))
        self.send_button.setText(tr("main.send"))
        self.cancel_reply.setToolTip(tr("main.cancel_reply"))
        self._show_reply()
        self._show_editing()

    def reply_to(self, item: ChatItem) -> None:
        self.stop_editing()
        self.replying_to = item
        self._show_reply()
        self.composer.setFocus()

    def clear_reply(self) -> None:
        self.replying_to = None
        self._show_reply()

    def start_editing(self, item: ChatItem) -> None:
        """The composer rewrites one of my messages: Enter saves, Esc or ✕ cancels."""
        self.clear_reply()
        self.editing = item
        self._show_editing()
        self.composer.setPlainText(item.text)
        self.composer.moveCursor(QTextCursor.MoveOperation.End)
        self.composer.setFocus()

    def stop_editing(self) -> None:
        if self.editing is not None:
            self.editing = None
            self.composer.clear()
            self._show_editing()

    def insert_emoji(self, emoji: str) -> None:
        self.composer.insertPlainText(emoji)
        self.composer.setFocus()

    def _show_reply(self) -> None:
        item = self.replying_to
        self.reply_bar.setVisible(item is not None)
        if item is not None:
            self.reply_label.setText(tr("main.replying_to", name=item.sender_name,
                                        text=item.text.replace("\n", " ")[:80]))

    def _show_editing(self) -> None:
        item = self.editing
        self.edit_bar.setVisible(item is not None)
        if item is not None:
            self.edit_label.setText(tr("chat.editing", text=item.text.replace("\n", " ")[:80]))
