"""One signed-in account, seen from the GUI thread.

`ChatSession` owns the account's services (the API client, the live connection, the
outbox) and turns their callbacks into Qt signals on the GUI thread. Every call the
windows make goes through it, on the bridge's worker threads; no widget touches a
service directly.
"""

from __future__ import annotations

import logging
import sys
import uuid
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from messenger.client.services.api import ApiClient, ApiError, ServerUnreachable
from messenger.client.services.dirs import ClientDirs
from messenger.client.services.outbox import Outbox, OutgoingMessage, outbox_path
from messenger.client.services.realtime import ConnectionState, Realtime
from messenger.client.ui.bridge import Bridge, Call
from messenger.core import protocol

log = logging.getLogger(__name__)


class ChatSession(QObject):
    event_received = Signal(str, object)  # a canonical or ephemeral server event: (name, data)
    connection_changed = Signal(str, object)  # (ConnectionState value, reason or None)
    outgoing_changed = Signal(object)  # an OutgoingMessage in its new state
    problem = Signal(str)  # a call failed for a reason worth a line in the status bar
    ended = Signal()  # the server ended this session (revoked, expired): sign in again

    def __init__(self, api: ApiClient, dirs: ClientDirs, bridge: Bridge, *,
                 realtime_options: dict | None = None, outbox_options: dict | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.api = api
        self.bridge = bridge
        self.user: dict = dict(api.user or {})
        self.realtime = Realtime(api, **(realtime_options or {}))
        self.outbox = Outbox(outbox_path(dirs.data, api.server_url, self.user["username"]), self.realtime,
                             **(outbox_options or {}))
        self._ended = False
        self._closed = False
        # Service threads call these; each hops to the GUI thread before touching Qt.
        self.realtime.on_any(lambda name, data: bridge.post(self._on_event, name, data))
        self.realtime.on_state(lambda state, reason: bridge.post(self._on_state, state, reason))
        self.outbox.add_listener(lambda message: bridge.post(self._on_outgoing, message))

    @property
    def user_id(self) -> int:
        return self.user["id"]

    @property
    def state(self) -> ConnectionState:
        return self.realtime.state

    def start(self) -> None:
        """Connect and start sending what the outbox holds (from this run or the last)."""
        self.realtime.start()
        self.outbox.start()

    def close(self) -> None:
        """Stop the services (blocking briefly); the token stays saved."""
        if self._closed:
            return
        self._closed = True
        self.outbox.stop()
        self.realtime.stop()

    # -- calls (each runs on a worker thread) -------------------------------------------------

    def call(self, fn: Callable, *args, owner: QObject | None = None, quiet: bool = False, **kwargs) -> Call:
        """Run a service call on the bridge. Unless the caller adds its own `fail`: a refusal
        that ends the session emits `ended`, another refusal or no answer emits `problem`
        (nothing if `quiet`), anything else is a bug for the report dialog."""
        call = self.bridge.run(fn, *args, owner=owner, **kwargs)
        call.fallback = lambda exc: self.failed(exc, quiet)
        return call

    def rooms(self, owner: QObject | None = None) -> Call:
        return self.call(self.api.rooms, include_members=True, owner=owner)

    def room_info(self, room_id: int, owner: QObject | None = None) -> Call:
        return self.call(self.api.room_info, room_id, owner=owner, quiet=True)

    def room_page(self, room_id: int, owner: QObject | None = None) -> Call:
        """Opening a room: `(page, outgoing)`, its newest page of history (with the members'
        read marks) and the messages the outbox has not delivered there yet."""

        def work():
            page = self.api.messages(room_id, limit=protocol.HISTORY_DEFAULT_LIMIT, include_members=True)
            return page, self.outbox.messages(room_id=room_id)

        return self.call(work, owner=owner)

    def older(self, room_id: int, before_id: int, owner: QObject | None = None) -> Call:
        """The page of history before `before_id` (scrolling up)."""
        return self.call(self.api.messages, room_id, before_id=before_id, limit=protocol.HISTORY_DEFAULT_LIMIT,
                         owner=owner)

    def send_text(self, room_id: int, text: str, reply_to: int | None = None) -> Call:
        """Keep the message in the outbox (it shows as pending at once) and send it."""
        # Plaintext until this client holds room keys (the E2E work wires encryption here).
        return self.call(self.outbox.enqueue, room_id, text, encrypted=False, reply_to=reply_to)

    def retry(self, outbox_id: int) -> Call:
        return self.call(self.outbox.retry, outbox_id)

    def discard(self, outbox_id: int) -> Call:
        return self.call(self.outbox.discard, outbox_id)

    def set_typing(self, room_id: int, is_typing: bool) -> Call:
        return self.call(self.realtime.set_typing, room_id, is_typing, quiet=True)

    def mark_read(self, room_id: int, message_id: int) -> Call:
        return self.call(self.realtime.mark_read, room_id, message_id, quiet=True)

    def toggle_reaction(self, message_id: int, emoji: str) -> Call:
        return self.call(self.api.toggle_reaction, message_id, emoji)

    def delete_message(self, message_id: int) -> Call:
        return self.call(self.api.delete_message, message_id)

    def set_room_flag(self, room_id: int, flag: str, value: bool) -> Call:
        method = self.api.pin_room if flag == "pinned" else self.api.mute_room
        return self.call(method, room_id, value)

    # -- rooms and their members (room_dialogs.py) and notices (notices.py) --------------------

    def users(self, owner: QObject | None = None) -> Call:
        return self.call(self.api.users, owner=owner)

    def create_room(self, member_ids: list[int], name: str | None = None, owner: QObject | None = None) -> Call:
        """A direct room for one other person (the existing one if there is), else a group."""
        return self.call(self.api.create_room, member_ids, name, owner=owner)

    def invite(self, room_id: int, user_ids: list[int], owner: QObject | None = None) -> Call:
        return self.call(self.api.add_members, room_id, user_ids, owner=owner)

    def kick(self, room_id: int, user_id: int, owner: QObject | None = None) -> Call:
        return self.call(self.api.kick, room_id, user_id, owner=owner)

    def set_room_admin(self, room_id: int, user_id: int, is_admin: bool, owner: QObject | None = None) -> Call:
        return self.call(self.api.set_room_admin, room_id, user_id, is_admin, owner=owner)

    def rename_room(self, room_id: int, name: str, owner: QObject | None = None) -> Call:
        return self.call(self.api.rename_room, room_id, name, owner=owner)

    def leave_room(self, room_id: int, owner: QObject | None = None) -> Call:
        return self.call(self.api.leave_room, room_id, owner=owner)

    def notices(self, room_id: int, owner: QObject | None = None) -> Call:
        return self.call(self.api.notices, room_id, owner=owner)

    def add_notice(self, room_id: int, *, message_id: int | None = None, content: str | None = None,
                   owner: QObject | None = None) -> Call:
        return self.call(self.api.add_notice, room_id, message_id=message_id, content=content, owner=owner)

    def remove_notice(self, room_id: int, notice_id: int, owner: QObject | None = None) -> Call:
        return self.call(self.api.remove_notice, room_id, notice_id, owner=owner)

    # -- polls (polls.py) ----------------------------------------------------------------------

    def polls(self, room_id: int, owner: QObject | None = None) -> Call:
        return self.call(self.api.polls, room_id, owner=owner)

    def create_poll(self, room_id: int, question: str, options: list[str], *, multiple_choice: bool,
                    anonymous: bool, ends_at: str | None, owner: QObject | None = None) -> Call:
        return self.call(self.api.create_poll, room_id, question, options, multiple_choice=multiple_choice,
                         anonymous=anonymous, ends_at=ends_at, owner=owner)

    def vote(self, poll_id: int, option_ids: list[int], owner: QObject | None = None) -> Call:
        return self.call(self.api.vote, poll_id, option_ids, owner=owner)

    def close_poll(self, poll_id: int, owner: QObject | None = None) -> Call:
        return self.call(self.api.close_poll, poll_id, owner=owner)

    # -- files (files.py) -----------------------------------------------------------------------

    def send_file(self, room_id: int, path: str, *, progress: Callable[[int, int], None] | None = None,
                  owner: QObject | None = None) -> Call:
        """Upload a file and send it to the room as a file or image message; the answer is
        the send's ack. `progress(sent, total)` runs on the GUI thread.

        This is the seam for end-to-end encryption: today it uploads the plaintext (the
        server refuses types its policy does not allow); the E2E work replaces the body of
        `work` with encrypt-then-upload and an encrypted message.
        """

        def report(sent: int, total: int) -> None:
            if progress is not None:
                self.bridge.post(progress, sent, total)

        def work() -> dict:
            uploaded = self.api.upload(room_id, path, progress=report)
            return self.realtime.send_message(room_id, uploaded["file_name"], encrypted=False,
                                              client_msg_id=uuid.uuid4().hex, message_type=uploaded["file_type"],
                                              upload_token=uploaded["upload_token"])

        return self.call(work, owner=owner)

    def room_files(self, room_id: int, owner: QObject | None = None) -> Call:
        return self.call(self.api.room_files, room_id, owner=owner)

    def download(self, file_id: int, destination: str, *, progress: Callable[[int, int], None] | None = None,
                 owner: QObject | None = None, quiet: bool = False) -> Call:
        """Save a room file at `destination`; the answer is its path."""

        def report(done: int, total: int) -> None:
            if progress is not None:
                self.bridge.post(progress, done, total)

        return self.call(self.api.download, file_id, destination, report, owner=owner, quiet=quiet)

    def sign_out(self) -> Call:
        """Stop the services, revoke this device on the server and forget its token."""

        def work() -> bool:
            self.close()
            return self.api.sign_out()

        return self.bridge.run(work)

    # -- service callbacks, now on the GUI thread ----------------------------------------------

    def _on_event(self, name: str, data: Any) -> None:
        self.event_received.emit(name, data if isinstance(data, dict) else {})

    def _on_state(self, state: ConnectionState, reason: str | None) -> None:
        self.connection_changed.emit(state.value, reason)
        if reason == "session_ended":
            self._end()

    def _on_outgoing(self, message: OutgoingMessage) -> None:
        self.outgoing_changed.emit(message)

    def failed(self, exc: BaseException, quiet: bool = False) -> None:
        """What a failed call means for the session (callers with their own `fail` call it too)."""
        if isinstance(exc, ApiError) and exc.session_ended:
            self.api.session_over()
            self._end()
        elif isinstance(exc, (ApiError, ServerUnreachable)):
            log.info("a call failed: %s", exc)
            if not quiet:
                self.problem.emit(exc.message_localized if isinstance(exc, ApiError) else "")
        else:
            sys.excepthook(type(exc), exc, exc.__traceback__)

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self.ended.emit()
