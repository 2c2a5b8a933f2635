"""Writing a message: the composer box, the "is typing" we send, and the one we show."""

from __future__ import annotations

import time
from typing import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QPlainTextEdit

from messenger.client.i18n import tr

TYPING_DEBOUNCE_MS = 500  # a burst of keystrokes becomes one "typing" after this pause-free wait
TYPING_REFRESH_SECONDS = 3.0  # while typing goes on, others are reminded this often
TYPING_IDLE_MS = 5000  # no keystroke for this long: "stopped typing"
TYPING_SHOWN_SECONDS = 6.0  # someone's "typing" fades if not refreshed (their client may have crashed)


class Composer(QPlainTextEdit):
    """Enter sends (`submitted`), Shift+Enter starts a new line, Esc cancels an edit (`escaped`)."""

    submitted = Signal(str)
    escaped = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.escaped.emit()
            event.accept()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
                event.modifiers() & Qt.KeyboardModifier.ShiftModifier):
            text = self.toPlainText().strip()
            if text:
                self.submitted.emit(text)
            event.accept()
            return
        super().keyPressEvent(event)


class TypingNotifier(QObject):
    """Tells a room that the user is typing, without a message per keystroke.

    The first keystroke of a burst arms a 500 ms timer; when it fires (text still there)
    one `typing: true` goes out, repeated every few seconds while typing goes on. Sending,
    clearing the box, switching rooms or a pause of a few seconds sends `typing: false`
    explicitly (the server never throttles a stop).
    """

    def __init__(self, send: Callable[[int, bool], None], parent: QObject | None = None):
        """`send(room_id, is_typing)` tells the server (through the session)."""
        super().__init__(parent)
        self.send = send
        self.room_id: int | None = None
        self._told_at: float | None = None  # when "typing" last went out, None: not typing
        self._debounce = QTimer(self, singleShot=True, interval=TYPING_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._tell)
        self._idle = QTimer(self, singleShot=True, interval=TYPING_IDLE_MS)
        self._idle.timeout.connect(self.stop)

    @property
    def typing(self) -> bool:
        return self._told_at is not None

    def edited(self, room_id: int, text: str) -> None:
        """The composer's text changed."""
        if room_id != self.room_id:
            self.stop()
            self.room_id = room_id
        if not text.strip():
            self.stop()
            return
        self._idle.start()
        stale = self._told_at is None or time.monotonic() - self._told_at > TYPING_REFRESH_SECONDS
        if stale and not self._debounce.isActive():
            self._debounce.start()

    def stop(self) -> None:
        """Typing is over (sent, cleared, idle, room closed): say so if we had said otherwise."""
        self._debounce.stop()
        self._idle.stop()
        if self._told_at is not None and self.room_id is not None:
            self.send(self.room_id, False)
        self._told_at = None

    def _tell(self) -> None:
        if self.room_id is not None:
            self.send(self.room_id, True)
            self._told_at = time.monotonic()


class TypingLine(QObject):
    """Who is typing in which room, from `user_typing` events; `changed(room_id)` when a
    room's line changes. An entry not refreshed for a few seconds goes away by itself."""

    changed = Signal(int)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._typing: dict[int, dict[int, tuple[str, float]]] = {}  # room -> user -> (name, until)
        self._sweep = QTimer(self, interval=1000)
        self._sweep.timeout.connect(self._expire)

    def update(self, data: dict) -> None:
        room_id, user_id = data.get("room_id"), data.get("user_id")
        if not isinstance(room_id, int) or not isinstance(user_id, int):
            return
        room = self._typing.setdefault(room_id, {})
        if data.get("is_typing"):
            room[user_id] = (data.get("nickname") or "?", time.monotonic() + TYPING_SHOWN_SECONDS)
            self._sweep.start()
        elif room.pop(user_id, None) is None:
            return
        self.changed.emit(room_id)

    def stopped(self, room_id: int, user_id: int) -> None:
        """Someone's message arrived: they are not typing it any more."""
        if self._typing.get(room_id, {}).pop(user_id, None) is not None:
            self.changed.emit(room_id)

    def text(self, room_id: int | None) -> str:
        names = [name for name, _ in self._typing.get(room_id, {}).values()]
        if not names:
            return ""
        if len(names) == 1:
            return tr("typing.one", name=names[0])
        if len(names) == 2:
            return tr("typing.two", first=names[0], second=names[1])
        return tr("typing.many", count=len(names))

    def _expire(self) -> None:
        now = time.monotonic()
        for room_id, users in self._typing.items():
            gone = [user_id for user_id, (_, until) in users.items() if until < now]
            for user_id in gone:
                del users[user_id]
            if gone:
                self.changed.emit(room_id)
        if not any(self._typing.values()):
            self._sweep.stop()
