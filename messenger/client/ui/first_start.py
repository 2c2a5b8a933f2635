"""A desk's first start: the servers found on the office network, and the certificate questions.

`FoundServers` lists what discovery found (name, address, version); a click hands the address
to the sign-in window. `TrustDialog` shows a new server's certificate fingerprint and asks
once; `CertificateChangedDialog` refuses a pinned server's other certificate, with nothing to
click but Close. None of them does I/O: the app browses and pins through the services.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontDatabase, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListView,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from messenger.client.i18n import tr
from messenger.client.ui.dialog_parts import close_buttons, ok_cancel_buttons, text_line
from messenger.client.ui.models import ITEM_ROLE
from messenger.client.services.discovery import FoundServer
from messenger.core.certificates import readable



class FoundServers(QWidget):
    """The servers announced on this network; hidden while there are none."""

    picked = Signal(str)  # the server's address, e.g. https://10.0.0.5:5000

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel(tr("first.found_servers"))
        self.model = QStandardItemModel(self)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setUniformItemSizes(True)
        self.view.setMaximumHeight(96)
        self.view.clicked.connect(lambda index: self.picked.emit(index.data(ITEM_ROLE)))
        self.view.activated.connect(lambda index: self.picked.emit(index.data(ITEM_ROLE)))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.view)
        self.hide()

    def show_servers(self, servers: list[FoundServer]) -> None:
        self.model.clear()
        for server in servers:
            item = QStandardItem(tr("first.found_server", name=server.name, address=server.url,
                                    version=server.version or "?"))
            item.setData(server.url, ITEM_ROLE)
            item.setToolTip(server.url)
            self.model.appendRow(item)
        self.setVisible(bool(servers))

    def addresses(self) -> list[str]:
        return [self.model.item(row).data(ITEM_ROLE) for row in range(self.model.rowCount())]


def _fingerprint_label(digits: str) -> QLabel:
    """Sixteen groups of four, in two lines of a fixed-width font, to compare group by group."""
    groups = readable(digits).split()
    label = QLabel(" ".join(groups[:8]) + "\n" + " ".join(groups[8:]))
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setPointSizeF(max(font.pointSizeF(), 9) * 1.15)
    font.setWeight(QFont.Weight.DemiBold)
    label.setFont(font)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet("padding: 10px; background: #F1F3F4; border-radius: 6px;")
    return label


class TrustDialog(QDialog):
    """First contact with a server whose certificate no CA vouches for: accept() trusts it."""

    def __init__(self, server: str, digits: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.digits = digits
        self.setWindowTitle(tr("first.trust_title"))
        self.setMinimumWidth(460)
        self.intro = text_line(tr("first.trust_intro", server=server))
        self.fingerprint = _fingerprint_label(digits)
        self.advice = text_line(tr("first.trust_advice"))
        self.buttons = ok_cancel_buttons(self, self.accept)
        self.trust_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.trust_button.setText(tr("first.trust_yes"))
        # Enter must not trust by accident: the person has to choose.
        self.trust_button.setDefault(False)
        self.trust_button.setAutoDefault(False)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(tr("first.trust_no"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.fingerprint)
        layout.addWidget(self.advice)
        layout.addWidget(self.buttons)


class CertificateChangedDialog(QDialog):
    """A pinned server presents another certificate: a warning, and no way to continue."""

    def __init__(self, server: str, presented: str, pinned: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(tr("first.changed_title"))
        self.setMinimumWidth(460)
        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical).pixmap(40, 40))
        self.warning = text_line(tr("first.changed_text", server=server))
        self.warning.setStyleSheet("color: #B3261E; font-weight: 600;")
        self.presented = _fingerprint_label(presented)
        self.pinned_label = text_line(tr("first.changed_pinned"))
        self.pinned = _fingerprint_label(pinned)
        self.advice = text_line(tr("first.changed_advice"))
        self.buttons = close_buttons(self)
        layout = QVBoxLayout(self)
        layout.addWidget(icon, alignment=Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.warning)
        layout.addWidget(self.presented)
        layout.addWidget(self.pinned_label)
        layout.addWidget(self.pinned)
        layout.addWidget(self.advice)
        layout.addWidget(self.buttons)
