"""The emoji people use most: a small popup grid under the composer's emoji button, and
the reactions of the message menu (the first few of the same list)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QToolButton, QWidget

COMMON_EMOJI = (
    "👍", "❤️", "😂", "😮", "😢", "🙏",  # the reactions
    "😀", "😊", "😉", "😍", "🤔", "😅",
    "😭", "😡", "👏", "🙌", "👌", "✌️",
    "🎉", "🔥", "✅", "❌", "☕", "💡",
)
REACTIONS = COMMON_EMOJI[:6]
COLUMNS = 6


class EmojiPicker(QFrame):
    """A popup grid of `COMMON_EMOJI`; `picked(emoji)` when one is clicked (it then closes)."""

    picked = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 6, 6, 6)
        grid.setSpacing(2)
        self.buttons: list[QToolButton] = []
        for number, emoji in enumerate(COMMON_EMOJI):
            button = QToolButton()
            button.setText(emoji)
            button.setAutoRaise(True)
            button.setMinimumSize(34, 34)
            button.clicked.connect(lambda _=False, e=emoji: self._pick(e))
            grid.addWidget(button, number // COLUMNS, number % COLUMNS)
            self.buttons.append(button)

    def show_above(self, anchor: QWidget) -> None:
        """Open just above `anchor` (the composer sits at the window's bottom)."""
        self.adjustSize()
        corner = anchor.mapToGlobal(anchor.rect().topLeft())
        self.move(corner.x(), corner.y() - self.height())
        self.show()

    def _pick(self, emoji: str) -> None:
        self.picked.emit(emoji)
        self.hide()
