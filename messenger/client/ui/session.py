"""One signed-in account, seen from the GUI thread.

`ChatSession` owns the account's services (the API client, the live connection, the
outbox, this device's end-to-end keys) and turns their callbacks into Qt signals on the
GUI thread. Every call the windows make goes through it, on the bridge's worker threads;
no widget touches a service directly.

End-to-end encryption: every text, edit and file goes out sealed under the room's key,
whatever the server's e2e policy (`required` and `optional` both take encrypted content,
and the policy is not shown to members). The outbox keeps a text in its local file and
seals it for the room just before each attempt, so a message written offline or before the
room key arrived goes out encrypted once it can; a file waits there as a local copy, and
is encrypted and uploaded at each attempt. On disk the outbox and the search index are
sealed under the account's local data key (in the OS keyring); signing out deletes both and
forgets the key.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from messenger.client.services.admin_api import AdminApi
from messenger.client.services.api import ApiClient, ServerRefused, ServerUnreachable
from messenger.client.services.dirs import ClientDirs
from messenger.client.services.keys import E2EError, E2EKeys
from messenger.client.services.local_db import forget_local_data_key, local_data_key
from messenger.client.services.messages import (
    download_file,
    encrypt_text,
    open_blob,
    file_message_type,
    read_file_entry,
    seal_and_upload_outgoing_file,
    seal_outgoing_text,
)
from messenger.client.services.outbox import FILE_TYPES, Outbox, OutgoingMessage, outbox_path
from messenger.client.services.realtime import ConnectionState, Realtime
from messenger.client.services.search_index import SearchIndex, search_index_path
from messenger.client.services.session_store import SessionStore
from messenger.client.ui.bridge import Bridge, Call
from messenger.core import protocol
from messenger.core.errors import localized

log = logging.getLogger(__name__)

# Decrypts a page of a room's messages where it is called (MessageText.read_page).
PageReader = Callable[[int, list], None]

# How long one send attempt waits for the room's key before the outbox tries again later.
SEAL_TIMEOUT_SECONDS = 10.0


class ChatSession(QObject):
    event_received = Signal(str, object)  # a canonical or ephemeral server event: (name, data)
    connection_changed = Signal(str, object)  # (ConnectionState value, reason or None)
    outgoing_changed = Signal(object)  # an OutgoingMessage in its new state
    upload_progress = Signal(object, int)  # (OutgoingMessage of a file, percent uploaded)
    problem = Signal(str)  # a call failed for a reason worth a line in the status bar
    ended = Signal()  # the server ended this session (revoked, expired): sign in again
    room_keys_changed = Signal(int)  # a room's keys changed here: read its "waiting for keys" again
    keys_loaded = Signal()  # this device's keys are loaded: its verified state can be read (devices.py)

    def __init__(self, api: ApiClient, dirs: ClientDirs, bridge: Bridge, store: SessionStore, *,
                 realtime_options: dict | None = None, outbox_options: dict | None = None,
                 parent: QObject | None = None):
        """`store` keeps this device's private keys, as it keeps its token."""
        super().__init__(parent)
        self.api = api
        self.bridge = bridge
        self.user: dict = dict(api.user or {})
        self.realtime = Realtime(api, **(realtime_options or {}))
        # v1/v2 history (an office moved from v4) costs a PBKDF2 per message: never on the GUI thread.
        self.keys = E2EKeys(api, store, dirs.data, legacy_in_background=True)
        self.keys.attach(self.realtime)
        # What this desk keeps of the account's messages is sealed at rest under this key.
        sealing_key = local_data_key(store, api.server_url, self.user["username"])
        self.outbox = Outbox(outbox_path(dirs.data, api.server_url, self.user["username"]), self.realtime,
                             sealing_key=sealing_key, **(outbox_options or {}))
        self.outbox.register_type("text", lambda message: seal_outgoing_text(
            self.keys, message, timeout=SEAL_TIMEOUT_SECONDS))
        for file_type in FILE_TYPES:
            self.outbox.register_type(file_type, lambda message: seal_and_upload_outgoing_file(
                self.keys, self.api, message, self.outbox.read_file(message), timeout=SEAL_TIMEOUT_SECONDS,
                progress=lambda percent: bridge.post(self.upload_progress.emit, message, percent)))
        self._keys_started = threading.Event()
        self._keys_starting = False
        self._life = threading.Lock()  # closing and starting the outbox never cross
        self._ended = False
        self._closed = False
        # Service threads call these; each hops to the GUI thread before touching Qt.
        self.realtime.on_any(lambda name, data: bridge.post(self._on_event, name, data))
        self.realtime.on_state(lambda state, reason: bridge.post(self._on_state, state, reason))
        self.outbox.add_listener(lambda message: bridge.post(self._on_outgoing, message))
        self.keys.add_listener(lambda room_id: bridge.post(self.room_keys_changed.emit, room_id))
        self._start_account_and_search(dirs, sealing_key)

    @property
    def user_id(self) -> int:
        return self.user["id"]

    @property
    def state(self) -> ConnectionState:
        return self.realtime.state

    @property
    def keys_ready(self) -> bool:
        """Whether this device's end-to-end keys are loaded (sending starts then)."""
        return self._keys_started.is_set()

    def start(self) -> None:
        """Connect, load this device's keys, then start sending what the outbox holds (from
        this run or the last)."""
        self.realtime.start()
        self._start_keys()

    def _start_keys(self) -> None:
        """Load (or make and publish) this device's keys on a worker thread; tried again at
        the next connection if the server could not be reached."""
        if self._keys_started.is_set() or self._keys_starting or self._closed:
            return
        self._keys_starting = True

        def work() -> None:
            self.keys.start()
            with self._life:
                if self._closed:
                    return
                self._keys_started.set()
                self.outbox.start()
            try:
                self.keys.sync_all()  # the catch-up at connection time may have come before the keys
            except Exception as exc:  # noqa: BLE001 - closed or cut off meanwhile: the next connection catches up
                log.info("e2e: catching up on keys after start failed (%s)", exc)

        def done() -> None:
            self._keys_starting = False

        self.bridge.run(work).then(lambda _: self.keys_loaded.emit()).always(done).fail(self._keys_failed)

    def _keys_failed(self, exc: BaseException) -> None:
        if self._closed:  # closed while the keys started: its API client went with it
            log.info("e2e: the key start ended with the session (%s)", exc)
            return
        # Keys that cannot be used are worth a line; an unreachable server is tried again.
        self.failed(exc, quiet=not isinstance(exc, E2EError))

    def close(self) -> None:
        """Stop the services (blocking briefly); the token stays saved."""
        with self._life:
            if self._closed:
                return
            self._closed = True
        self.outbox.stop()
        self.realtime.stop()
        self.keys.close()
        self.search_index.close()

    # -- calls (each runs on a worker thread) -------------------------------------------------

    def call(self, fn: Callable, *args, owner: QObject | None = None, quiet: bool = False, **kwargs) -> Call:
        """Run a service call on the bridge. Unless the caller adds its own `fail`: a refusal
        that ends the session emits `ended`, another refusal or no answer emits `problem`
        (nothing if `quiet`), anything else is a bug for the report dialog."""
        call = self.bridge.run(fn, *args, owner=owner, **kwargs)
        call.fallback = lambda exc: self.failed(exc, quiet)
        return call

    def rooms(self, read_page: PageReader | None = None, owner: QObject | None = None) -> Call:
        """The room list; each room's last message is decrypted by `read_page` on the worker."""

        def work() -> list[dict]:
            rooms = self.api.rooms(include_members=True)
            if read_page is not None:
                for room in rooms:
                    read_page(room["id"], [room["last_message"]] if room.get("last_message") else [])
            return rooms

        return self.call(work, owner=owner)

    def room_info(self, room_id: int, owner: QObject | None = None) -> Call:
        return self.call(self.api.room_info, room_id, owner=owner, quiet=True)

    def room_page(self, room_id: int, read_page: PageReader | None = None, owner: QObject | None = None) -> Call:
        """Opening a room: `(page, outgoing)`, its newest page of history (with the members'
        read marks) and the messages the outbox has not delivered there yet. `read_page(room_id,
        messages)` decrypts the page here, on the worker (MessageText.read_page)."""

        def work():
            page = self.api.messages(room_id, limit=protocol.HISTORY_DEFAULT_LIMIT, include_members=True)
            self.index_page(page)
            if read_page is not None:
                read_page(room_id, page.get("messages") or [])
            return page, self.outbox.messages(room_id=room_id)

        return self.call(work, owner=owner)

    def older(self, room_id: int, before_id: int, read_page: PageReader | None = None,
              owner: QObject | None = None) -> Call:
        """The page of history before `before_id` (scrolling up), decrypted like `room_page`'s.
        The largest page the server gives: each page inserted costs the view a layout of every
        row it holds."""

        def work():
            page = self.api.messages(room_id, before_id=before_id, limit=protocol.HISTORY_MAX_LIMIT)
            self.index_page(page)
            if read_page is not None:
                read_page(room_id, page.get("messages") or [])
            return page

        return self.call(work, owner=owner)

    def send_text(self, room_id: int, text: str, reply_to: int | None = None) -> Call:
        """Keep the message in the outbox (it shows as pending at once) and send it, sealed."""
        return self.call(self.outbox.enqueue, room_id, text, encrypted=True, reply_to=reply_to)

    def edit_message(self, room_id: int, message_id: int, text: str) -> Call:
        """Replace the text of one's own message, sealed like a send."""

        def work() -> dict:
            content = encrypt_text(self.keys, room_id, text, edit_of=message_id, timeout=SEAL_TIMEOUT_SECONDS)
            return self.api.edit_message(message_id, content, encrypted=True)

        return self.call(work)

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
        def work() -> dict:
            added = self.api.add_members(room_id, user_ids)
            self.keys.vouch(room_id, user_ids)  # added from this desk: its next key version says so
            return added

        return self.call(work, owner=owner)

    def kick(self, room_id: int, user_id: int, owner: QObject | None = None) -> Call:
        return self.call(self.api.kick, room_id, user_id, owner=owner)

    def set_room_admin(self, room_id: int, user_id: int, is_admin: bool, owner: QObject | None = None) -> Call:
        return self.call(self.api.set_room_admin, room_id, user_id, is_admin, owner=owner)

    def rename_room(self, room_id: int, name: str, owner: QObject | None = None) -> Call:
        return self.call(self.api.rename_room, room_id, name, owner=owner)

    def leave_room(self, room_id: int, owner: QObject | None = None) -> Call:
        return self.call(self.api.leave_room, room_id, owner=owner)

    def notices(self, room_id: int, read_page: PageReader | None = None, owner: QObject | None = None) -> Call:
        """The room's notices; the pinned messages are decrypted by `read_page` on the worker."""

        def work() -> list[dict]:
            notices = self.api.notices(room_id)
            if read_page is not None:
                read_page(room_id, [notice["message"] for notice in notices if notice.get("message")])
            return notices

        return self.call(work, owner=owner)

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

    def send_file(self, room_id: int, path: str, *, owner: QObject | None = None) -> Call:
        """Keep a copy of the file in the outbox (it shows as pending at once) and send it
        as an image message (when its bytes are an image) or a file message, encrypted on
        this device; the answer is the OutgoingMessage. Progress comes as `upload_progress`."""
        return self.call(lambda: self._enqueue_file(room_id, Path(path).name, Path(path).read_bytes()), owner=owner)

    def send_file_data(self, room_id: int, name: str, data: bytes, *, owner: QObject | None = None) -> Call:
        """As `send_file`, for bytes held in memory (a pasted image): nothing is written in the clear."""
        return self.call(self._enqueue_file, room_id, name, data, owner=owner)

    def _enqueue_file(self, room_id: int, name: str, data: bytes) -> OutgoingMessage:
        return self.outbox.enqueue_file(room_id, name, data, message_type=file_message_type(data))

    def room_files(self, room_id: int, owner: QObject | None = None) -> Call:
        """The room's files, newest first; an encrypted one with the name, size and
        `file_key` its message holds (the server knows none of them)."""

        def work() -> list[dict]:
            return [read_file_entry(self.keys, self.api, room_id, entry) if entry.get("encrypted") else entry
                    for entry in self.api.room_files(room_id)]

        return self.call(work, owner=owner)

    def download(self, file_id: int, destination: str, *, file_key: str | None = None,
                 progress: Callable[[int, int], None] | None = None, owner: QObject | None = None) -> Call:
        """Save a room file at `destination`, decrypted with `file_key` (its message's; None:
        a plaintext upload); the answer is its path."""

        def report(done: int, total: int) -> None:
            if progress is not None:
                self.bridge.post(progress, done, total)

        return self.call(download_file, self.api, file_id, destination, file_key, report, owner=owner)

    def image(self, file_id: int, *, file_key: str | None = None, owner: QObject | None = None,
              quiet: bool = False) -> Call:
        """A room image's bytes to show, decrypted with `file_key` in memory (never on disk)."""

        def work() -> bytes:
            return open_blob(self.api.download_bytes(f"/uploads/{file_id}"), file_key)[0]

        return self.call(work, owner=owner, quiet=quiet)

    def sign_out(self) -> Call:
        """Stop the services, revoke this device on the server and forget its token; what this
        computer kept of the account (keys, outbox, search index) goes with it."""

        def work() -> bool:
            self.close()
            try:
                return self.api.sign_out()
            finally:
                self.keys.forget()  # the device session is dead, and its keys with it
                self.outbox.forget()  # messages still waiting are dropped, not left behind
                self.search_index.forget()
                forget_local_data_key(self.keys.store, self.api.server_url, self.user["username"])

        return self.bridge.run(work)

    # -- service callbacks, now on the GUI thread ----------------------------------------------

    def _on_event(self, name: str, data: Any) -> None:
        self.event_received.emit(name, data if isinstance(data, dict) else {})

    def _on_state(self, state: ConnectionState, reason: str | None) -> None:
        self.connection_changed.emit(state.value, reason)
        if state is ConnectionState.CONNECTED:
            self._start_keys()  # if the server could not be reached when the session began
        if reason == "session_ended":
            self._end()

    def _on_outgoing(self, message: OutgoingMessage) -> None:
        self.outgoing_changed.emit(message)

    def failed(self, exc: BaseException, quiet: bool = False) -> None:
        """What a failed call means for the session (callers with their own `fail` call it too)."""
        if isinstance(exc, ServerRefused) and exc.session_ended:
            self.api.session_over()
            self._end()
        elif isinstance(exc, E2EError):
            log.info("an end-to-end step failed: %s", exc.code)
            if not quiet:
                self.problem.emit(localized(exc.code, self.api.language))
        elif isinstance(exc, (ServerRefused, ServerUnreachable)):
            log.info("a call failed: %s", exc)
            if not quiet:
                self.problem.emit(exc.message_localized if isinstance(exc, ServerRefused) else "")
        else:
            sys.excepthook(type(exc), exc, exc.__traceback__)

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self.ended.emit()

    # -- account, devices, admin, search --

    def _start_account_and_search(self, dirs: ClientDirs, sealing_key: bytes) -> None:
        """The account's local search index (sealed under `sealing_key`), fed with every message
        this session reads: live events here, history pages through `index_page`."""
        self.password_changed = False  # why the session ended, for the sign-in window
        self.search_index = SearchIndex(search_index_path(dirs.data, self.api.server_url, self.user["username"]),
                                        lambda: self.keys, sealing_key=sealing_key)
        self.event_received.connect(self._index_event)
        self.room_keys_changed.connect(self.search_index.keys_changed)

    def key_fingerprint(self, owner: QObject | None = None) -> Call:
        """This device's key fingerprint, for comparing devices by eye."""
        return self.call(lambda: self.keys.fingerprint, owner=owner, quiet=True)

    def back_up_keys(self, passphrase: str, *, start_over: bool = False, owner: QObject | None = None) -> Call:
        """Merge every room key this device holds into the account's encrypted key backup;
        the answer is the backup's version. The passphrase then stays in memory (never on
        disk) so that keys arriving later join the backup by themselves."""

        def work() -> int:
            self.keys.sync_all()  # open whatever was sealed to this device meanwhile
            version = self.keys.write_backup(passphrase, start_over=start_over)
            self.keys.remember_backup_passphrase(passphrase)
            return version

        return self.call(work, owner=owner)

    def restore_keys(self, passphrase: str, owner: QObject | None = None) -> Call:
        """Take the room keys of the account's key backup; the answer is how many were new."""

        def work() -> int:
            gained = self.keys.restore_backup(passphrase)
            self.keys.remember_backup_passphrase(passphrase)
            return gained

        return self.call(work, owner=owner)

    def verification(self, owner: QObject | None = None) -> Call:
        """This desk's verified-device state (devices.py): `verified`; `code`, this desk's code
        to compare while it is not; `devices`, the user's devices (E2EKeys.own_devices);
        `changes`, {user id: name} of contacts shown with another identity than the pinned one;
        `unvouched`, {room id: {user id: name}} of members the server lists that no member's
        device added (they get no keys); `recovery_key`, the one made with the user's identity
        here, once."""

        def work() -> dict:
            verified = self.keys.refresh_verified()
            changed = self.keys.identity_changes()
            unvouched = self.keys.unvouched_members()
            names = {u["id"]: u["nickname"] for u in self.api.users()} if changed or unvouched else {}
            return {"verified": verified, "code": None if verified else self.keys.verification_code(),
                    "devices": self.keys.own_devices(), "recovery_key": self.keys.take_new_recovery_key(),
                    "changes": {uid: names.get(uid, str(uid)) for uid in changed if uid != self.user_id},
                    "unvouched": {room_id: {uid: names.get(uid, str(uid)) for uid in ids}
                                  for room_id, ids in unvouched.items()}}

        return self.call(work, owner=owner, quiet=True)

    def approve_device(self, device_id: int, code: str, owner: QObject | None = None) -> Call:
        return self.call(self.keys.approve_device, device_id, code, owner=owner)

    def recover(self, recovery_key: str, owner: QObject | None = None) -> Call:
        """Approve this desk with the recovery key; the answer is how many room keys came back."""
        return self.call(self.keys.recover, recovery_key, owner=owner)

    def safety_number(self, user_id: int, owner: QObject | None = None) -> Call:
        """The safety number to compare with `user_id`: of the identity shown now, if it changed."""
        return self.call(self.keys.safety_number, user_id, changed=True, owner=owner)

    def trust_identity(self, user_id: int, owner: QObject | None = None) -> Call:
        return self.call(self.keys.trust_identity, user_id, owner=owner)

    def profile(self, owner: QObject | None = None) -> Call:
        return self.call(self.api.profile, owner=owner)

    def update_profile(self, nickname: str, status_message: str, owner: QObject | None = None) -> Call:
        return self.call(self.api.update_profile, nickname=nickname, status_message=status_message, owner=owner)

    def set_profile_image(self, path: str, owner: QObject | None = None) -> Call:
        return self.call(self.api.upload_profile_image, path, owner=owner)

    def remove_profile_image(self, owner: QObject | None = None) -> Call:
        return self.call(self.api.remove_profile_image, owner=owner)

    def profile_image(self, user_id: int, owner: QObject | None = None) -> Call:
        return self.call(self.api.profile_image, user_id, owner=owner, quiet=True)

    def change_password(self, current: str, new: str, owner: QObject | None = None) -> Call:
        """Change the password. The server then signs out every device, this one too: the
        session ends and the app asks for the new password."""
        # Set before the answer: the server's "session ended" on the socket may come first.
        self.password_changed = True
        return self.call(self.api.change_password, current, new, owner=owner).then(lambda _: self._end()).fail(
            self._password_unchanged)

    def _password_unchanged(self, _exc: BaseException) -> None:
        self.password_changed = False

    def device_sessions(self, owner: QObject | None = None) -> Call:
        return self.call(self.api.device_sessions, owner=owner)

    def sign_out_device(self, session_id: int, owner: QObject | None = None) -> Call:
        """Sign one of this account's devices out (this one: the session ends)."""
        return self.call(self.api.revoke_device_session, session_id, owner=owner).then(self._end_if_current)

    def sign_out_other_devices(self, owner: QObject | None = None) -> Call:
        """Sign out every device of this account but this one; the answer is how many."""

        def work() -> int:
            others = [s["id"] for s in self.api.device_sessions() if not s["is_current"]]
            for session_id in others:
                try:
                    self.api.revoke_device_session(session_id)
                except ServerRefused as exc:
                    if exc.code != "DEVICE_SESSION_NOT_FOUND":  # signed out meanwhile: as good
                        raise
            return len(others)

        return self.call(work, owner=owner)

    def admin(self, action: str, *args, owner: QObject | None = None, **kwargs) -> Call:
        """A platform-admin call: `admin("disable_user", user_id)` runs `AdminApi.disable_user`."""
        call = self.call(getattr(AdminApi(self.api), action), *args, owner=owner, **kwargs)
        return call.then(self._end_if_current) if action == "revoke_device_session" else call

    def _end_if_current(self, current: bool) -> None:
        if current:
            self._end()

    def search_messages(self, query: str, room_id: int | None = None, owner: QObject | None = None) -> Call:
        """The indexed messages holding every word of `query`, newest first (SearchHits)."""
        return self.call(self.search_index.search, query, room_id=room_id, owner=owner)

    def index_page(self, page: dict) -> None:
        """Index a page of history as it arrives (the words are read on the index's thread)."""
        self.search_index.add(page.get("messages") or [])

    def _index_event(self, name: str, data: dict) -> None:
        if name == protocol.NEW_MESSAGE and isinstance(data.get("id"), int):
            self.search_index.add([data])
        elif name == protocol.MESSAGE_EDITED and isinstance(data.get("message_id"), int):
            self.search_index.edit(data["room_id"], data["message_id"], data.get("content") or "",
                                   bool(data.get("encrypted")))
        elif name == protocol.MESSAGE_DELETED and isinstance(data.get("message_id"), int):
            self.search_index.remove(data["message_id"])
