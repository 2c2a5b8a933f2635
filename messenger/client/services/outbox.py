"""The outbox: every message the user sends, kept on disk until the server has it.

A message is written to a local SQLite file (state `pending`) before anything is sent,
with a `client_msg_id` (uuid4 hex) of its own. A sender thread sends pending messages
over the live connection while there is one, oldest first and strictly in order within
a room (a room's next message waits until the one before it is sent or has failed);
rooms do not wait for each other. A message that got no answer is sent again with the
same `client_msg_id`, so the server answers the first message's id and never stores it
twice, whether the answer was lost, the connection dropped or the client crashed.

States: `pending` -> `sent` (with the server's `message_id`) or `failed` (a permanent
refusal such as ROOM_NOT_FOUND or MESSAGE_TOO_LONG, or `max_attempts` attempts without
success while connected; time spent disconnected never counts). A failed message leaves
its room's queue: the messages after it go on (one bad message must not hold a room's
conversation hostage; the user sees it marked failed where it was written) and it waits
for the user to `retry` it (it goes back to its original place in the queue, ahead of
later messages still pending) or `discard` it.

All database access runs on one thread (as Anki does with its collection), so the file
has a single writer; listeners are called on the thread that made the change.

Per-type preparers: `register_type(message_type, prepare)`. `prepare` runs on the sender
thread before each attempt and returns the extra `send_message` fields (the upload token
from POST /api/upload). It may also supply the wire `content` and `encrypted`: the desktop
keeps a text's plaintext here (this file never leaves the device) and seals it under the
room's current key just before each attempt, so a message written before the room key
is available waits for it. An ServerRefused or E2EError of a preparer counts like a refused
send: permanent codes fail the message, others are retried.

Files (`enqueue_file`): the file's bytes are copied (atomically, owner-only) into the
account's folder beside the outbox file, and the row's content describes the copy
(`{"name", "size", "path"}`, see `OutgoingMessage.attachment`); it is never sent as it is:
the type's preparer encrypts and uploads the copy (`read_file`) at each attempt (an upload
token is spent by one send and expires soon, so each attempt uploads again) and supplies the
wire content. The copy is deleted once the message is sent or discarded; copies no row refers
to (a crash between the copy and its row) are deleted when the outbox opens.

At rest (spec/e2e.md, "Local data at rest"): each row's content and each file copy is sealed
(local_db.LocalSeal) under the account's local data key, bound to its row's client_msg_id or
its copy's name, so the file holds no text, file name or file bytes; what stays readable is
when, to which room, of which type and in which state. A restart while signed in opens them
with the same key from the keyring; rows that no longer open (the key is gone) are dropped
when the outbox opens. Rows and copies an older version left in plaintext are sealed then.
`forget` deletes the outbox, rows and copies (sign-out).
"""

from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import enum
import hashlib
import json
import logging
import shutil
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Protocol

from cryptography.exceptions import InvalidTag

from messenger.client.services.api import ServerRefused, ServerUnreachable
from messenger.client.services.backoff import Backoff
from messenger.client.services.keys import E2EError
from messenger.client.services.local_db import LocalSeal, delete_local_database, open_local_database
from messenger.client.services.realtime import ConnectionState, NotConnected
from messenger.client.services.session_store import normalize_server_url
from messenger.core.files import write_atomic

log = logging.getLogger(__name__)

# The server will refuse these however often the message is sent again.
PERMANENT_ERRORS = frozenset({
    "ROOM_NOT_FOUND", "MESSAGE_TOO_LONG", "VALIDATION_ERROR", "INVALID_JSON", "MESSAGE_TYPE_NOT_ALLOWED",
    "REPLY_NOT_IN_ROOM", "UPLOAD_TOKEN_INVALID", "FORBIDDEN", "PAYLOAD_TOO_LARGE",
    "E2E_DEVICE_KEYS_LOST",  # this device cannot encrypt any more: sign in again
    "FILE_NOT_FOUND",  # the outbox's copy of a file is gone
})
NO_ANSWER = "SERVER_UNREACHABLE"  # error_code of a message that failed without a refusal
FILE_TYPES = ("file", "image")  # kept as a copy of the file (`enqueue_file`)

SCHEMA = [
    # Version 1. Add a migration at the end of this list; never edit one that shipped.
    """
    CREATE TABLE outgoing_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,   -- the order the user sent them in
        client_msg_id TEXT NOT NULL UNIQUE,
        room_id INTEGER NOT NULL,
        message_type TEXT NOT NULL,
        content TEXT NOT NULL,
        encrypted INTEGER NOT NULL,
        reply_to INTEGER,
        state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        message_id INTEGER,
        error_code TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX ix_outgoing_messages_state_room ON outgoing_messages (state, room_id, id);
    """,
    # Version 2: content sealed at rest (rows from version 1 are sealed when the outbox opens).
    "ALTER TABLE outgoing_messages ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0",
]


class OutboxState(str, enum.Enum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    DISCARDED = "discarded"  # only ever told to listeners: the row is gone


@dataclasses.dataclass(frozen=True)
class OutgoingMessage:
    id: int
    client_msg_id: str
    room_id: int
    message_type: str
    content: str
    encrypted: bool
    reply_to: int | None
    state: OutboxState
    attempts: int
    message_id: int | None
    error_code: str | None
    created_at: float

    @property
    def attachment(self) -> dict | None:
        """A file message's copy in the outbox: `{"name", "size", "path"}`; None for others
        (a file message enqueued as it is, its upload done by the caller)."""
        if self.message_type not in FILE_TYPES:
            return None
        try:
            described = json.loads(self.content)
        except ValueError:
            return None
        return described if isinstance(described, dict) and "path" in described else None

    @classmethod
    def from_row(cls, row: sqlite3.Row, content: str) -> "OutgoingMessage":
        """The message of a row whose content, once opened, is `content`."""
        return cls(row["id"], row["client_msg_id"], row["room_id"], row["message_type"], content,
                   bool(row["encrypted"]), row["reply_to"], OutboxState(row["state"]), row["attempts"],
                   row["message_id"], row["error_code"], row["created_at"])


class Transport(Protocol):
    """What the outbox needs from the live connection (`Realtime` is one)."""

    @property
    def connected(self) -> bool: ...

    def on_state(self, callback: Callable[[ConnectionState, str | None], None]) -> None: ...

    def send_message(self, room_id: int, content: str, *, encrypted: bool, client_msg_id: str,
                     message_type: str = "text", reply_to: int | None = None, **extra) -> dict: ...


class Outbox:
    def __init__(self, path: Path | str, transport: Transport, *, sealing_key: bytes, max_attempts: int = 8,
                 retry_delay: float = 1.0, retry_delay_max: float = 60.0, keep_sent_seconds: float = 86_400):
        """An outbox in the SQLite file `path` (one per account; the client's local data
        folder, e.g. `outbox_path(dirs, server, username)`), sending through `transport`;
        what it keeps is sealed under `sealing_key` (the account's local data key)."""
        self.path = Path(path)
        self.files = outbox_files(self.path)  # the copies of files waiting to go
        self._seal = LocalSeal(sealing_key)
        self.transport = transport
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.backoff = Backoff(retry_delay, retry_delay_max)
        self.keep_sent_seconds = keep_sent_seconds
        self._preparers: dict[str, Callable[[OutgoingMessage], dict]] = {"text": lambda message: {}}
        self._listeners: list[Callable[[OutgoingMessage], None]] = []
        self._db_thread = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="outbox-db", initializer=self._open)
        # Touched on the database thread only:
        self._conn: sqlite3.Connection | None = None
        self._due: dict[int, float] = {}  # message id -> monotonic time of its next attempt
        self._in_flight: int | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._sender: threading.Thread | None = None
        self._db(self._prune_sent)
        self._db(self._seal_or_drop_rows)
        self._db(self._remove_stray_copies)
        transport.on_state(self._on_connection_state)

    # -- public ----------------------------------------------------------------------------

    def register_type(self, message_type: str, prepare: Callable[[OutgoingMessage], dict]) -> None:
        """Let `enqueue` accept `message_type`; `prepare(message)` gives the extra
        send_message fields before each attempt (see the module docstring)."""
        self._preparers[message_type] = prepare

    def add_listener(self, listener: Callable[[OutgoingMessage], None]) -> None:
        """`listener(message)` after every state change (queued, sent, failed, retried, discarded)."""
        self._listeners.append(listener)

    def start(self) -> None:
        """Start sending; pending messages from a previous run go first, in their order."""
        if self._stopping.is_set():
            raise RuntimeError("a stopped outbox cannot start again; open a new one on the file")
        if self._sender is not None and self._sender.is_alive():
            return
        self._sender = threading.Thread(target=self._send_loop, name="outbox-send", daemon=True)
        self._sender.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop sending (a send in flight finishes first) and close the file; for good."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        if self._sender is not None:
            self._sender.join(timeout)
        self._db(self._close)
        self._db_thread.shutdown(wait=True)

    def enqueue(self, room_id: int, content: str, *, encrypted: bool, reply_to: int | None = None,
                message_type: str = "text") -> OutgoingMessage:
        """Keep a new message (durably, before this returns) and send it when possible.
        `encrypted`: it goes out end-to-end encrypted (already an envelope, or plaintext that
        the type's preparer seals at each attempt)."""
        if message_type not in self._preparers:
            raise ValueError(f"the outbox cannot send {message_type!r} messages")
        message = self._db(self._insert, room_id, content, bool(encrypted), reply_to, message_type)
        self._tell(message)
        self._wake.set()
        return message

    def enqueue_file(self, room_id: int, name: str, data: bytes, *, message_type: str = "file",
                     reply_to: int | None = None) -> OutgoingMessage:
        """Keep a copy of a file's bytes (durably, before this returns) and send it as a
        `message_type` message ("file" or "image") when possible, through the type's preparer."""
        if message_type not in FILE_TYPES or message_type not in self._preparers:
            raise ValueError(f"the outbox cannot send {message_type!r} files")
        copy = self.files / uuid.uuid4().hex
        write_atomic(copy, self._seal.seal(data, _copy_context(copy.name)))
        described = json.dumps({"name": name, "size": len(data), "path": str(copy)}, ensure_ascii=False)
        try:
            return self.enqueue(room_id, described, encrypted=True, reply_to=reply_to, message_type=message_type)
        except BaseException:
            copy.unlink(missing_ok=True)
            raise

    def read_file(self, message: OutgoingMessage) -> bytes:
        """The bytes of a file message's copy (for its preparer). Raises E2EError FILE_NOT_FOUND
        when the copy is gone or does not open (sealed under a key forgotten since)."""
        copy = Path(message.attachment["path"])
        try:
            return self._seal.open(copy.read_bytes(), _copy_context(copy.name))
        except FileNotFoundError:
            raise E2EError("FILE_NOT_FOUND", "the outbox's copy of the file is gone") from None
        except InvalidTag:
            raise E2EError("FILE_NOT_FOUND", "the outbox's copy of the file does not open") from None

    def forget(self) -> None:
        """Stop, and delete the outbox from this computer: its rows and file copies (sign-out)."""
        self.stop()
        forget_outbox(self.path)

    def retry(self, message_id: int) -> bool:
        """Put a failed message back in its room's queue; False if it is not failed."""
        message = self._db(self._retry, message_id)
        if message is None:
            return False
        self._tell(message)
        self._wake.set()
        return True

    def discard(self, message_id: int) -> bool:
        """Drop a failed or pending message; False if it is sent, being sent, or unknown."""
        message = self._db(self._discard, message_id)
        if message is None:
            return False
        self._tell(message)
        return True

    def get(self, message_id: int) -> OutgoingMessage | None:
        return self._db(self._get, message_id)

    def messages(self, *, room_id: int | None = None, states: tuple[OutboxState, ...] = (
            OutboxState.PENDING, OutboxState.FAILED)) -> list[OutgoingMessage]:
        """The kept messages in sending order (by default the ones not sent yet)."""
        return self._db(self._select, room_id, tuple(s.value for s in states))

    # -- database thread -------------------------------------------------------------------

    def _db(self, function, *args):
        """Run `function(*args)` on the database thread and return its result."""
        return self._db_thread.submit(function, *args).result()

    def _open(self) -> None:
        # A queued message survives a power cut.
        self._conn = open_local_database(self.path, SCHEMA, synchronous="FULL")
        self._conn.row_factory = sqlite3.Row

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _prune_sent(self) -> None:
        self._conn.execute("DELETE FROM outgoing_messages WHERE state = 'sent' AND updated_at < ?",
                           (time.time() - self.keep_sent_seconds,))

    def _remove_stray_copies(self) -> None:
        """Delete the file copies no message waiting to go refers to."""
        if not self.files.is_dir():
            return
        waiting = self._select(None, (OutboxState.PENDING.value, OutboxState.FAILED.value))
        kept = {Path(message.attachment["path"]).name for message in waiting if message.attachment}
        for copy in self.files.iterdir():
            if copy.name not in kept:
                copy.unlink(missing_ok=True)

    @staticmethod
    def _remove_copy(message: OutgoingMessage) -> None:
        if message.attachment:
            Path(message.attachment["path"]).unlink(missing_ok=True)

    def _seal_or_drop_rows(self) -> None:
        """Drop the rows that do not open (sealed under a key forgotten since: nobody can read
        or send them), and seal the ones an older version kept in plaintext, in one transaction.
        A plaintext file copy is sealed into a new copy that the row then names: the old one is
        left to `_remove_stray_copies`, so a crash halfway never leaves a row and its copy apart."""
        rows = self._conn.execute("SELECT * FROM outgoing_messages").fetchall()
        unreadable = [(row["id"],) for row in rows if row["sealed"] and self._opened_content(row) is None]
        plain = [row for row in rows if not row["sealed"]]
        if unreadable:
            log.warning("outbox: %s messages do not open with this account's local data key; dropped",
                        len(unreadable))
        if not unreadable and not plain:
            return
        if plain:
            self._conn.execute("PRAGMA secure_delete = ON")  # the plaintext's space is overwritten, not only freed
        with self._conn:
            self._conn.execute("BEGIN")
            self._conn.executemany("DELETE FROM outgoing_messages WHERE id = ?", unreadable)
            for row in plain:
                content = row["content"]
                copy = OutgoingMessage.from_row(row, content).attachment
                if copy and Path(copy["path"]).is_file():
                    sealed = self.files / uuid.uuid4().hex
                    data = Path(copy["path"]).read_bytes()
                    write_atomic(sealed, self._seal.seal(data, _copy_context(sealed.name)))
                    content = json.dumps({**copy, "path": str(sealed)}, ensure_ascii=False)
                self._conn.execute("UPDATE outgoing_messages SET content = ?, sealed = 1 WHERE id = ?",
                                   (self._sealed_content(row["client_msg_id"], content), row["id"]))
        if plain:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # and none stays in the WAL
            self._conn.execute("PRAGMA secure_delete = OFF")

    def _sealed_content(self, client_msg_id: str, content: str) -> str:
        return base64.b64encode(self._seal.seal(content.encode(), _row_context(client_msg_id))).decode("ascii")

    def _opened_content(self, row: sqlite3.Row) -> str | None:
        try:
            return self._seal.open(base64.b64decode(row["content"]), _row_context(row["client_msg_id"])).decode()
        except (InvalidTag, ValueError):
            return None

    def _message(self, row: sqlite3.Row) -> OutgoingMessage:
        return OutgoingMessage.from_row(row, self._opened_content(row) or "")

    def _get(self, message_id: int) -> OutgoingMessage | None:
        row = self._conn.execute("SELECT * FROM outgoing_messages WHERE id = ?", (message_id,)).fetchone()
        return self._message(row) if row else None

    def _select(self, room_id: int | None, states: tuple[str, ...]) -> list[OutgoingMessage]:
        query = f"SELECT * FROM outgoing_messages WHERE state IN ({','.join('?' * len(states))})"
        args: list[Any] = list(states)
        if room_id is not None:
            query += " AND room_id = ?"
            args.append(room_id)
        return [self._message(r) for r in self._conn.execute(query + " ORDER BY id", args)]

    def _insert(self, room_id: int, content: str, encrypted: bool, reply_to: int | None,
                message_type: str) -> OutgoingMessage:
        now, client_msg_id = time.time(), uuid.uuid4().hex
        cursor = self._conn.execute(
            "INSERT INTO outgoing_messages (client_msg_id, room_id, message_type, content, encrypted, reply_to,"
            " state, created_at, updated_at, sealed) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, 1)",
            (client_msg_id, room_id, message_type, self._sealed_content(client_msg_id, content), int(encrypted),
             reply_to, now, now))
        return self._get(cursor.lastrowid)

    def _next_due(self, now: float) -> tuple[OutgoingMessage | None, float | None]:
        """The oldest room head whose time has come (marked in flight), else when the
        earliest one will be due (None: nothing pending)."""
        heads = self._conn.execute(
            "SELECT * FROM outgoing_messages AS m WHERE state = 'pending' AND id = ("
            " SELECT MIN(id) FROM outgoing_messages WHERE state = 'pending' AND room_id = m.room_id)"
            " ORDER BY id").fetchall()
        earliest = None
        for row in heads:
            due = self._due.get(row["id"], 0.0)
            if due <= now:
                self._in_flight = row["id"]
                return self._message(row), None
            earliest = due if earliest is None else min(earliest, due)
        return None, earliest

    def _record(self, message_id: int, state: OutboxState, counted: bool, message_id_on_server: int | None,
                error_code: str | None, wait: float) -> OutgoingMessage | None:
        """Store an attempt's outcome; returns the message if its state changed."""
        self._in_flight = None
        row = self._get(message_id)
        if row is None:
            return None
        attempts = row.attempts + counted
        if state is OutboxState.PENDING and attempts >= self.max_attempts:
            state = OutboxState.FAILED
        self._conn.execute(
            "UPDATE outgoing_messages SET state = ?, attempts = ?, message_id = ?, error_code = ?, updated_at = ?"
            " WHERE id = ?", (state.value, attempts, message_id_on_server, error_code, time.time(), message_id))
        if state is OutboxState.PENDING:
            self._due[message_id] = time.monotonic() + wait
            return None
        self._due.pop(message_id, None)
        message = self._get(message_id)
        if state is OutboxState.SENT:
            self._remove_copy(message)
        return message

    def _retry(self, message_id: int) -> OutgoingMessage | None:
        changed = self._conn.execute(
            "UPDATE outgoing_messages SET state = 'pending', attempts = 0, error_code = NULL, updated_at = ?"
            " WHERE id = ? AND state = 'failed'", (time.time(), message_id)).rowcount
        self._due.pop(message_id, None)
        return self._get(message_id) if changed else None

    def _discard(self, message_id: int) -> OutgoingMessage | None:
        message = self._get(message_id)
        if message is None or message.state is OutboxState.SENT or message_id == self._in_flight:
            return None
        self._conn.execute("DELETE FROM outgoing_messages WHERE id = ?", (message_id,))
        self._due.pop(message_id, None)
        self._remove_copy(message)
        return dataclasses.replace(message, state=OutboxState.DISCARDED)

    # -- sender thread -------------------------------------------------------------------------

    def _send_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            if not self.transport.connected:
                self._wake.wait()
                continue
            now = time.monotonic()
            message, due = self._db(self._next_due, now)
            if message is None:
                self._wake.wait(None if due is None else due - now)
                continue
            self._attempt(message)

    def _attempt(self, message: OutgoingMessage) -> None:
        counted, wait, error_code = True, 0.0, None
        try:
            extra = dict(self._preparers[message.message_type](message))
            content, encrypted = extra.pop("content", message.content), extra.pop("encrypted", message.encrypted)
            ack = self.transport.send_message(
                message.room_id, content, encrypted=encrypted, client_msg_id=message.client_msg_id,
                message_type=message.message_type, reply_to=message.reply_to, **extra)
        except NotConnected:
            # Not an attempt: it waits for the connection (which wakes the loop).
            counted, error_code = False, NO_ANSWER
        except ServerUnreachable:
            error_code = NO_ANSWER
        except (ServerRefused, E2EError) as exc:
            error_code = exc.code
            if exc.code in PERMANENT_ERRORS:
                log.info("outbox: message %s refused for good (%s)", message.id, exc.code)
                self._changed(message.id, OutboxState.FAILED, True, None, exc.code, 0.0)
                return
            if getattr(exc, "session_ended", False):
                counted = False  # the connection is about to close; sign-in decides what next
        except Exception:
            # A bug in a preparer must not stop the outbox: count it as a failed attempt.
            log.exception("outbox: preparing or sending message %s failed", message.id)
            error_code = "INTERNAL_ERROR"
        else:
            self._changed(message.id, OutboxState.SENT, True, ack["message_id"], None, 0.0)
            return
        if counted:
            attempts = message.attempts + 1
            wait = self.backoff.wait(attempts - 1)
            log.info("outbox: message %s attempt %s failed (%s); next in %.1fs", message.id, attempts,
                     error_code, wait)
        else:
            wait = self.retry_delay
        self._changed(message.id, OutboxState.PENDING, counted, None, error_code, wait)

    def _changed(self, *outcome) -> None:
        message = self._db(self._record, *outcome)
        if message is not None:
            self._tell(message)

    def _on_connection_state(self, state: ConnectionState, reason: str | None) -> None:
        if self._stopping.is_set():
            return
        if state is ConnectionState.CONNECTED:
            # A fresh connection: what waited for a backoff goes now.
            self._db_thread.submit(self._due.clear)
        self._wake.set()

    def _tell(self, message: OutgoingMessage) -> None:
        for listener in list(self._listeners):
            try:
                listener(message)
            except Exception:
                log.exception("outbox listener failed for message %s", message.id)


def _row_context(client_msg_id: str) -> bytes:
    return f"outbox row {client_msg_id}".encode()


def _copy_context(name: str) -> bytes:
    return f"outbox file {name}".encode()


def outbox_files(path: Path) -> Path:
    """The folder of an outbox's file copies, beside its file."""
    return path.with_suffix(".files")


def forget_outbox(path: Path) -> None:
    """Delete an outbox (closed) from this computer: its file and its file copies."""
    delete_local_database(path)
    shutil.rmtree(outbox_files(path), ignore_errors=True)


def outbox_path(data_dir: Path, server_url: str, username: str) -> Path:
    """One outbox file per account, so that a second account on the machine never sends
    the first one's messages."""
    key = f"{normalize_server_url(server_url)}\n{username.lower()}".encode()
    return Path(data_dir) / "outbox" / f"{hashlib.sha256(key).hexdigest()[:16]}.sqlite3"
