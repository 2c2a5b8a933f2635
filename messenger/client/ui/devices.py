"""Verified devices on the desktop (README "Verified devices", spec/e2e-keys.md §3a).

A desk that made the user's identity shows the recovery key once (`RecoveryKeyDialog`). A
desk not signed by the identity yet says so in the main window with its code to compare, and
takes the recovery key (`RecoverDialog`). A verified desk shows the user's desks waiting for
approval, and approves one after the code it shows is typed (`ApproveDialog`). A contact
shown with another identity than the one pinned is a warning until the safety numbers are
compared and the new identity trusted (`SafetyNumberDialog`). Members the server lists in the
open room whom no member's device added (ghosts: they get no keys) are named in a warning until a
member's desk vouches for them (spec/e2e-keys.md §3c).

`DeviceBanners` reads the state through the session (on a worker) whenever it may have
changed, and keeps the banners true; every dialog calls the session, never a service.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from messenger.client.i18n import tr
from messenger.client.ui.dialog_parts import ERROR_STYLE, StatusLine, hint_line, refusal_text, text_line
from messenger.client.ui.session import ChatSession

WARNING_STYLE = "background: #FFF4D6; border-bottom: 1px solid #E8C766;"
CODE_STYLE = "font-family: monospace; font-size: 15pt; letter-spacing: 1px;"
# Events after which the user's devices may have changed state (messenger/server/actions/keys.py).
DEVICE_EVENTS = ("device_keys_published", "device_signed")


def printable(recovery_key: str) -> str:
    """The recovery key in its groups, two lines, to copy by hand."""
    groups = recovery_key.split()
    if len(groups) == 1:  # written without spaces: groups of 4
        groups = [recovery_key[i:i + 4] for i in range(0, len(recovery_key), 4)]
    half = (len(groups) + 1) // 2
    return "  ".join(groups[:half]) + "\n" + "  ".join(groups[half:])


def code_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setStyleSheet(CODE_STYLE)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class Banner(QFrame):
    """One line across the window, with up to one action button."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setStyleSheet(WARNING_STYLE)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.button = QPushButton()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button)
        self.action = None
        self.button.clicked.connect(lambda: self.action and self.action())
        self.hide()

    def say(self, text: str | None, button: str = "", action=None) -> None:
        """Show `text` with a button doing `action`; None hides the banner."""
        self.action = action
        self.label.setText(text or "")
        self.button.setText(button)
        self.button.setVisible(action is not None)
        self.setVisible(text is not None)


class DeviceBanners(QObject):
    """The main window's banners about this user's devices (`device`), contacts' changed
    identities (`identity`) and the open room's unvouched members (`unvouched`), kept up to
    date from `session.verification`."""

    state_changed = Signal(dict)

    def __init__(self, session: ChatSession, parent: QWidget, room_members: Callable[[], set[int]],
                 open_room: Callable[[], int | None]):
        """`room_members()`: the open room's members; a changed identity is warned of in their rooms.
        `open_room()`: the open room's id, whose unvouched members are warned of."""
        super().__init__(parent)
        self.session = session
        self.window = parent
        self.room_members = room_members
        self.open_room = open_room
        self.device = Banner(parent)
        self.identity = Banner(parent)
        self.unvouched = Banner(parent)
        self.state: dict | None = None
        self._recovery_key: str | None = None  # made here, not yet confirmed written down
        self._reading = self._again = False
        session.keys_loaded.connect(self.refresh)
        session.room_keys_changed.connect(lambda _room: self.refresh())
        session.event_received.connect(self._on_event)
        session.outgoing_changed.connect(self._on_outgoing)

    def _on_event(self, name: str, _data: dict) -> None:
        if name in DEVICE_EVENTS:
            self.refresh()

    def _on_outgoing(self, message) -> None:
        # A send looks at the room's devices: a changed identity is seen then. Read in memory
        # (no I/O), so that only a change costs a read from the server.
        if message.state.value == "pending" or self.state is None:
            return
        changed = set(self.session.keys.identity_changes()) - {self.session.user_id}
        if changed != set(self.state["changes"]):
            self.refresh()

    def refresh(self) -> None:
        """Read the state again (one read at a time; a refresh asked meanwhile runs after it)."""
        if not self.session.keys_ready:
            return
        if self._reading:
            self._again = True
            return
        self._reading = True
        self.session.verification(owner=self).then(self._arrived).always(self._read_done)

    def _read_done(self) -> None:
        self._reading = False
        if self._again:
            self._again = False
            self.refresh()

    def _arrived(self, state: dict) -> None:
        self.state = state
        if state["recovery_key"]:
            # A banner, not a dialog thrown up at sign-in: it stays until the key is written down.
            self._recovery_key = state["recovery_key"]
        self._show()
        self.state_changed.emit(state)

    def pending(self) -> list[dict]:
        """The user's other desks waiting for approval (seen from a verified desk)."""
        if not self.state or not self.state["verified"]:
            return []
        return [d for d in self.state["devices"] if not d["verified"] and not d["current"]]

    def _show(self) -> None:
        state = self.state
        if self._recovery_key is not None:
            self.device.say(tr("devices.recovery_banner"), tr("devices.show_recovery_key"), self.show_recovery_key)
        elif not state["verified"]:
            self.device.say(tr("devices.unverified", code=state["code"]), tr("devices.enter_recovery_key"),
                            self.enter_recovery_key)
        elif self.pending():
            device = self.pending()[0]
            self.device.say(tr("devices.pending", name=device.get("device_name") or "?"), tr("devices.approve"),
                            lambda: self.approve(device))
        else:
            self.device.say(None)
        self.room_changed()

    def room_changed(self) -> None:
        """Warn of the changed identities of the open room's members, and of its unvouched
        members (the window calls this when another room opens)."""
        if self.state is None:
            return
        members = self.room_members()
        changes = {uid: name for uid, name in self.state["changes"].items() if uid in members}
        if changes:
            user_id, name = next(iter(changes.items()))
            self.identity.say(tr("devices.identity_changed", name=name), tr("devices.compare"),
                              lambda: self.compare(user_id, name))
        else:
            self.identity.say(None)
        room_id = self.open_room()
        ghosts = self.state["unvouched"].get(room_id, {})
        if ghosts:
            self.unvouched.say(tr("devices.unvouched", names=", ".join(ghosts.values())), tr("devices.vouch"),
                               lambda: self.vouch(room_id, list(ghosts)))
        else:
            self.unvouched.say(None)

    def vouch(self, room_id: int, user_ids: list[int]) -> None:
        """The user says they added them: invited from this desk (already members: the server
        adds no one), this desk vouches for them and its next key version tells the others."""
        self.session.invite(room_id, user_ids, owner=self)

    # -- the dialogs (each returned, for tests and for the account dialog) --

    def _open(self, dialog: QDialog) -> QDialog:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _result: self.refresh())
        dialog.open()
        return dialog

    def show_recovery_key(self) -> RecoveryKeyDialog | None:
        if self._recovery_key is None:
            return None
        dialog = RecoveryKeyDialog(self._recovery_key, self.window)
        dialog.accepted.connect(self._recovery_key_written)
        return self._open(dialog)

    def _recovery_key_written(self) -> None:
        self._recovery_key = None  # kept nowhere from here on
        if self.state is not None:
            self._show()

    def enter_recovery_key(self) -> RecoverDialog:
        return self._open(RecoverDialog(self.session, self.window))

    def approve(self, device: dict) -> ApproveDialog:
        return self._open(ApproveDialog(self.session, device, self.window))

    def compare(self, user_id: int, name: str) -> SafetyNumberDialog:
        return self._open(SafetyNumberDialog(self.session, user_id, name, self.window))


class RecoveryKeyDialog(QDialog):
    """The recovery key, shown once: printable, copyable, closed only once written down."""

    def __init__(self, recovery_key: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(tr("devices.recovery_title"))
        self.key = code_label(printable(recovery_key))
        self.copy_button = QPushButton(tr("devices.copy"))
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(recovery_key))
        self.written = QCheckBox(tr("devices.written_down"))
        self.done_button = QPushButton(tr("devices.done"))
        self.done_button.setEnabled(False)
        self.written.toggled.connect(self.done_button.setEnabled)
        self.done_button.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addStretch(1)
        buttons.addWidget(self.done_button)
        layout = QVBoxLayout(self)
        layout.addWidget(text_line(tr("devices.recovery_explained")))
        layout.addWidget(self.key)
        layout.addWidget(text_line(tr("devices.recovery_warning"), ERROR_STYLE))
        layout.addWidget(self.written)
        layout.addLayout(buttons)

    def reject(self) -> None:
        if self.written.isChecked():  # Esc closes only once the key is written down
            super().reject()


class RecoverDialog(QDialog):
    """Typing the recovery key on an unverified desk approves it."""

    def __init__(self, session: ChatSession, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.setWindowTitle(tr("devices.enter_recovery_key"))
        self.key = QLineEdit()
        self.key.setStyleSheet("font-family: monospace;")
        self.key.returnPressed.connect(self.submit)
        self.submit_button = QPushButton(tr("devices.recover"))
        self.submit_button.clicked.connect(self.submit)
        self.status = StatusLine()
        layout = QVBoxLayout(self)
        layout.addWidget(hint_line(tr("devices.recover_hint")))
        layout.addWidget(self.key)
        layout.addWidget(self.status)
        layout.addWidget(self.submit_button, 0, Qt.AlignmentFlag.AlignRight)

    def submit(self) -> None:
        if not self.key.text().strip():
            return
        self.submit_button.setEnabled(False)
        self.status.clear()
        self.session.recover(self.key.text().strip(), owner=self).then(lambda _count: self.accept()).fail(
            self._refused).always(lambda: self.submit_button.setEnabled(True))

    def _refused(self, exc: BaseException) -> None:
        self.status.setText(refusal_text(exc))


class ApproveDialog(QDialog):
    """Approving another desk of the user: the code that desk shows, typed here."""

    def __init__(self, session: ChatSession, device: dict, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.device = device
        self.setWindowTitle(tr("devices.approve_title"))
        self.code = QLineEdit()
        self.code.setStyleSheet("font-family: monospace;")
        self.code.setPlaceholderText("12345 67890 12345")
        self.code.returnPressed.connect(self.submit)
        self.approve_button = QPushButton(tr("devices.approve"))
        self.approve_button.clicked.connect(self.submit)
        self.status = StatusLine()
        layout = QVBoxLayout(self)
        layout.addWidget(text_line(tr("devices.approve_hint", name=device.get("device_name") or "?",
                                            fingerprint=device.get("fingerprint", ""))))
        layout.addWidget(self.code)
        layout.addWidget(self.status)
        layout.addWidget(self.approve_button, 0, Qt.AlignmentFlag.AlignRight)

    def submit(self) -> None:
        if not self.code.text().strip():
            return
        self.approve_button.setEnabled(False)
        self.status.clear()
        self.session.approve_device(self.device["device_session_id"], self.code.text(), owner=self).then(
            lambda _device: self.accept()).fail(self._refused).always(lambda: self.approve_button.setEnabled(True))

    def _refused(self, exc: BaseException) -> None:
        self.status.setText(refusal_text(exc))


class SafetyNumberDialog(QDialog):
    """A contact's safety number, to compare with theirs; "Trust" accepts their identity now."""

    def __init__(self, session: ChatSession, user_id: int, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.user_id = user_id
        self.setWindowTitle(tr("devices.safety_title", name=name))
        self.number = code_label("…")
        self.number.setWordWrap(True)
        self.trust_button = QPushButton(tr("devices.trust"))
        self.trust_button.clicked.connect(self.trust)
        self.status = StatusLine()
        layout = QVBoxLayout(self)
        layout.addWidget(text_line(tr("devices.safety_hint", name=name)))
        layout.addWidget(self.number)
        layout.addWidget(self.status)
        layout.addWidget(self.trust_button, 0, Qt.AlignmentFlag.AlignRight)
        session.safety_number(user_id, owner=self).then(self.number.setText).fail(self._refused)

    def trust(self) -> None:
        self.trust_button.setEnabled(False)
        self.session.trust_identity(self.user_id, owner=self).then(lambda _key: self.accept()).fail(
            self._refused).always(lambda: self.trust_button.setEnabled(True))

    def _refused(self, exc: BaseException) -> None:
        self.status.setText(refusal_text(exc))
