"""The routing of live events onto the room list and the open chat, without a widget.

The main window owns one `LiveEvents` and draws what it signals (scrolling, the header,
notifications); a test can drive one with the two models alone, event by event.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from messenger.client.services.messages import ContentState
from messenger.client.services.outbox import OutboxState, OutgoingMessage
from messenger.client.ui.composer import TypingLine
from messenger.client.ui.chat_model import ChatModel
from messenger.client.ui.room_list import RoomItem, RoomListModel
from messenger.core import protocol

NOTIFICATION_CHARS = 200
KEY_WAIT_FOR_NOTIFICATION_MS = 3000  # a notification waits this long at most for its message's key


class LiveEvents(QObject):
    """Applies the server's events and the outbox's changes to `rooms` and `chat`.

    While a room's first page is on its way (`open`), changes to that room are held and
    applied after the page (`page_arrived`), so none is lost or applied twice.
    """

    notify = Signal(int, str, str)  # (room_id, title, text): a new message worth a notification
    message_added = Signal(bool)  # a new message joined the open chat; True: show the newest
    own_message_added = Signal()  # our own new message joined the open chat
    rooms_changed = Signal()  # a room's title, members or presence, or the list itself
    room_refresh_needed = Signal(int)  # the server has to tell this room's summary again
    room_closed = Signal()  # the open room was taken away
    chat_opened = Signal(int)  # a room's first page is in the chat (before the held changes)

    def __init__(self, user_id: int, rooms: RoomListModel, chat: ChatModel, typing_line: TypingLine, *,
                 in_view: Callable[[int], bool], following: Callable[[], bool],
                 notifications: Callable[[], bool], parent: QObject | None = None):
        """`in_view(room_id)`: whether the user looks at that room now; `following()`: whether
        the chat shows the newest messages; `notifications()`: whether the user wants them."""
        super().__init__(parent)
        self.user_id = user_id
        self.rooms = rooms
        self.chat = chat
        self.typing_line = typing_line
        self._in_view = in_view
        self._following = following
        self._notifications = notifications
        self.opening: int | None = None  # the room whose first page is on its way
        self._held: list[Callable[[], None]] = []  # changes to that room, applied after the page
        self._unannounced: dict[int, list[dict]] = {}  # room -> new messages whose key is on its way

    # -- opening a room -------------------------------------------------------------------------

    def open(self, room_id: int) -> None:
        """`room_id`'s first page was asked for: hold its changes until it is here."""
        self.opening, self._held = room_id, []

    def page_arrived(self, room_id: int, page: dict, outgoing: list[OutgoingMessage]) -> bool:
        """Show the first page and then the changes held for it; False if another room was
        picked meanwhile (and nothing changed)."""
        if room_id != self.opening:
            return False
        self.opening = None
        self.chat.open(room_id, page, outgoing)
        self.chat_opened.emit(room_id)
        held, self._held = self._held, []
        for change in held:
            change()
        return True

    def page_failed(self, room_id: int) -> None:
        if room_id == self.opening:
            self.opening, self._held = None, []

    def _in_chat(self, room_id: int, change: Callable[[], None]) -> None:
        """Apply a change to the chat if it shows `room_id` (or hold it while it loads)."""
        if room_id == self.opening:
            self._held.append(change)
        elif room_id == self.chat.room_id:
            change()

    # -- the outbox -----------------------------------------------------------------------------

    def on_outgoing(self, out: OutgoingMessage) -> None:
        """The outbox changed one of our messages."""
        if out.room_id == self.opening:
            self._held.append(lambda: self.chat.apply_outgoing(out))
            return
        if out.room_id != self.chat.room_id:
            return
        self.chat.apply_outgoing(out)
        if out.state is OutboxState.PENDING and out.attempts == 0:
            self.own_message_added.emit()

    # -- the server's events --------------------------------------------------------------------

    def on_event(self, name: str, data: dict) -> None:
        if name == protocol.USER_STATUS and isinstance(data.get("user_id"), int):
            self.rooms.set_online(data["user_id"], data.get("status") == "online")
            self.rooms_changed.emit()
            return
        handler = {
            protocol.NEW_MESSAGE: self._on_new_message,
            protocol.MESSAGE_EDITED: self._on_message_edited,
            protocol.MESSAGE_DELETED: self._on_message_deleted,
            protocol.REACTION_UPDATED: self._on_reaction_updated,
            protocol.READ_UPDATED: self._on_read_updated,
            protocol.USER_TYPING: self._on_user_typing,
            protocol.ROOM_UPDATED: self._on_room_updated,
            protocol.ROOM_NAME_UPDATED: self._on_room_name_updated,
            protocol.ROOM_MEMBERS_UPDATED: self._on_room_members_updated,
        }.get(name)
        if handler is not None and isinstance(data.get("room_id"), int):
            handler(data)

    def _on_new_message(self, message: dict) -> None:
        room_id = message["room_id"]
        in_view = self._in_view(room_id)
        room = self.rooms.on_new_message(message, unread=not in_view)
        if room is None:
            self.room_refresh_needed.emit(room_id)
        self.typing_line.stopped(room_id, message.get("sender_id"))
        self._in_chat(room_id, lambda: self._show_new_message(message))
        own = message.get("sender_id") == self.user_id
        if not own and not in_view and room is not None and not room.muted and self._notifications():
            if self.chat.text.read(room_id, message).state is ContentState.WAITING_FOR_KEYS:
                # Its key is usually a moment behind: say it with its text once that is here.
                self._unannounced.setdefault(room_id, []).append(message)
                # With this object as context: a timer left when it is deleted is dropped.
                QTimer.singleShot(KEY_WAIT_FOR_NOTIFICATION_MS, self, lambda: self._announce(room_id))
            else:
                self._announce_message(room, message)

    def _show_new_message(self, message: dict) -> None:
        follow = self._following() or message.get("sender_id") == self.user_id
        self.chat.add_message(message)
        self.message_added.emit(follow)

    def _announce(self, room_id: int) -> None:
        """Notify the messages of `room_id` that waited for its key (read as they are now)."""
        room = self.rooms.room(room_id)
        for message in self._unannounced.pop(room_id, ()):
            if room is not None:
                self._announce_message(room, message)

    def _announce_message(self, room: RoomItem, message: dict) -> None:
        text = self.chat.text.of(room.room_id, message)[:NOTIFICATION_CHARS]
        sender = message.get("sender_name") or ""
        if room.type == "direct":
            self.notify.emit(room.room_id, sender, text)
        else:
            self.notify.emit(room.room_id, room.title, f"{sender}: {text}")

    def room_keys_changed(self, room_id: int) -> None:
        """A room key arrived (or the waiting state changed): read what waited for it again."""
        self.chat.text.keys_changed(room_id)
        self.rooms.reread(room_id)
        self.chat.reread(room_id)
        held = self._unannounced.get(room_id, ())
        if held and all(self.chat.text.read(room_id, m).state is not ContentState.WAITING_FOR_KEYS for m in held):
            self._announce(room_id)

    def _on_message_edited(self, data: dict) -> None:
        room_id, message_id = data["room_id"], data.get("message_id")
        self.rooms.on_message_edited(room_id, message_id, data.get("content") or "", bool(data.get("encrypted")))
        self._in_chat(room_id, lambda: self.chat.edit(message_id, data.get("content") or "",
                                                      bool(data.get("encrypted"))))

    def _on_message_deleted(self, data: dict) -> None:
        room_id, message_id = data["room_id"], data.get("message_id")
        self.rooms.on_message_deleted(room_id, message_id)
        self._in_chat(room_id, lambda: self.chat.delete(message_id))

    def _on_reaction_updated(self, data: dict) -> None:
        self._in_chat(data["room_id"], lambda: self.chat.set_reactions(data.get("message_id"),
                                                                       data.get("reactions") or []))

    def _on_read_updated(self, data: dict) -> None:
        room_id, user_id, message_id = data["room_id"], data.get("user_id"), data.get("message_id") or 0
        if user_id == self.user_id:
            room = self.rooms.room(room_id)
            if room is not None and message_id >= room.last_message_id:
                self.rooms.set_read(room_id)  # read on another device
            elif room is not None and room.unread:
                self.room_refresh_needed.emit(room_id)  # read partly elsewhere: the server counts the rest
        self._in_chat(room_id, lambda: self.chat.set_read_mark(user_id, message_id))

    def _on_user_typing(self, data: dict) -> None:
        if data.get("user_id") != self.user_id:
            self.typing_line.update(data)

    def _on_room_updated(self, data: dict) -> None:
        room_id = data["room_id"]
        if data.get("action") == "removed":
            self.rooms.remove(room_id)
            if room_id in (self.chat.room_id, self.opening):
                self.opening = None
                self.room_closed.emit()
        elif isinstance(data.get("room"), dict):
            room = data["room"]
            self.rooms.upsert(room)
            if room.get("type") == "group" and not room.get("name") and "members" not in room:
                self.room_refresh_needed.emit(room_id)  # an unnamed group is titled by its members
        self.rooms_changed.emit()

    def _on_room_name_updated(self, data: dict) -> None:
        self.rooms.rename(data["room_id"], data.get("name") or "")
        self.rooms_changed.emit()

    def _on_room_members_updated(self, data: dict) -> None:
        room_id, members = data["room_id"], data.get("members") or []
        room = self.rooms.room(room_id)
        if room is not None and room.type == "group":
            self.room_refresh_needed.emit(room_id)  # an unnamed group is titled by its members
        self.rooms.set_member_count(room_id, len(members))
        self._in_chat(room_id, lambda: self.chat.set_members(members))
        self.rooms_changed.emit()
