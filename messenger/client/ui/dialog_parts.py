"""The parts dialogs are built from: their lines of text (what was done or went wrong, a
hint), a refused call's reason in the user's words, the button boxes under a dialog, and
a tab's page."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from messenger.client.i18n import language, tr
from messenger.client.services.keys import E2EError
from messenger.core.errors import localized

ERROR_STYLE = "color: #D93025;"
INFO_STYLE = "color: #2E7D32;"
HINT_STYLE = "color: #7A8291;"


def refusal_text(exc: BaseException, *, otherwise: str | None = None) -> str:
    """A line for the user about a failed call: the server's own words, an end-to-end step's
    reason, else `otherwise` (by default: that the server is unreachable)."""
    if isinstance(exc, E2EError):
        return localized(exc.code, language())
    return getattr(exc, "message_localized", "") or (tr("login.unreachable") if otherwise is None else otherwise)


def text_line(text: str = "", style: str = "") -> QLabel:
    """A line of text that wraps: an explanation, or in `style` a warning."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(style)
    return label


def hint_line(text: str = "") -> QLabel:
    """A grey line of advice under what it is about."""
    return text_line(text, HINT_STYLE)


class StatusLine(QLabel):
    """A dialog's line for how its last step went: done (green), or what went wrong (red)."""

    def __init__(self) -> None:
        super().__init__()
        self.setWordWrap(True)
        self.setStyleSheet(ERROR_STYLE)

    def say(self, text: str, *, error: bool = False) -> None:
        self.setStyleSheet(ERROR_STYLE if error else INFO_STYLE)
        self.setText(text)

    def show_refusal(self, exc: BaseException) -> None:
        """Why a call failed: the server's words (or an end-to-end step's reason), else the
        exception's own."""
        self.say(refusal_text(exc, otherwise=str(exc)), error=True)


def close_buttons(dialog: QDialog) -> QDialogButtonBox:
    """A Close button that closes `dialog`."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    return buttons


def ok_cancel_buttons(dialog: QDialog, ok: Callable[[], object]) -> QDialogButtonBox:
    """OK calls `ok` (which accepts `dialog` once it is done); Cancel closes `dialog`."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(ok)
    buttons.rejected.connect(dialog.reject)
    return buttons


def tab_page(*parts: QWidget | QLayout, button: QPushButton | None = None, status: QLabel | None = None) -> QWidget:
    """A tab of fields: `parts` top to bottom, the tab's button on the right, its status line,
    and the space left over below them."""
    page = QWidget()
    layout = QVBoxLayout(page)
    for part in parts:
        if isinstance(part, QLayout):
            layout.addLayout(part)
        else:
            layout.addWidget(part)
    if button is not None:
        layout.addWidget(button, 0, Qt.AlignmentFlag.AlignRight)
    if status is not None:
        layout.addWidget(status)
    layout.addStretch(1)
    return page


def list_page(view: QAbstractItemView, *buttons: QPushButton, status: QLabel | None = None) -> QWidget:
    """A tab of a list: the list, its buttons in a row under it, and its status line."""
    row = QHBoxLayout()
    for button in buttons:
        row.addWidget(button)
    row.addStretch(1)
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.addWidget(view, 1)
    layout.addLayout(row)
    if status is not None:
        layout.addWidget(status)
    return page
