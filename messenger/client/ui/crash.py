"""The one exception hook: every unexpected error is logged and shown in a report dialog.

Installed by the app at start (not by tests: pytest-qt keeps its own). Errors on other
threads are logged where they happen and shown on the GUI thread; one dialog at a time.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout

from messenger.client.i18n import tr
from messenger.client.ui.dialog_parts import close_buttons

log = logging.getLogger("messenger.client.crash")


class ReportDialog(QDialog):
    def __init__(self, details: str, log_path: Path | None, parent=None):
        super().__init__(parent)
        self.setWindowTitle(tr("crash.title"))
        self.resize(640, 420)
        intro = QLabel(tr("crash.text", path=str(log_path) if log_path else "-"))
        intro.setWordWrap(True)
        intro.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QPlainTextEdit(details)
        self.details.setReadOnly(True)
        buttons = close_buttons(self)
        copy = QPushButton(tr("crash.copy"))
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(details))
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.details)
        layout.addWidget(buttons)


class _Reporter(QObject):
    # Queued to the GUI thread whichever thread the error happened on.
    report = Signal(str)

    def __init__(self, log_path: Path | None):
        super().__init__()
        self.log_path = log_path
        self.showing = False
        self.report.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def _show(self, details: str) -> None:
        if self.showing:
            return  # one at a time: an error storm must not bury the user in dialogs
        self.showing = True
        try:
            ReportDialog(details, self.log_path).exec()
        finally:
            self.showing = False


_reporter: _Reporter | None = None


def install_exception_hook(log_path: Path | None) -> None:
    """Route uncaught exceptions (GUI thread and others) to the log and the report dialog.
    Call on the GUI thread once the QApplication exists."""
    global _reporter
    _reporter = _Reporter(log_path)
    sys.excepthook = report_exception
    threading.excepthook = lambda args: report_exception(args.exc_type, args.exc_value, args.exc_traceback)


def report_exception(exc_type, exc_value, exc_traceback) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc_value, exc_traceback)
        return
    log.critical("unexpected error", exc_info=(exc_type, exc_value, exc_traceback))
    if _reporter is not None:
        _reporter.report.emit("".join(traceback.format_exception(exc_type, exc_value, exc_traceback)))
