"""The local search index: the messages this device has read, searchable as plaintext.

End-to-end encrypted text cannot be searched on the server (contract section 7), so the
client keeps its own index of what it decrypted: one SQLite file per account in the
local (never roaming) data folder, readable by this OS account only. It holds plaintext
of the account's messages, which is why it lives beside the device token's fallback and
not in the settings.

Words are found by an FTS5 `trigram` index, so a word is found inside a longer one, as
Korean needs ("회의실" in "삼층 회의실에서"). A trigram needs three characters: shorter
terms ("회의") are matched with LIKE on the stored text (a scan, fine at a desk's scale).
Every term of a query must occur.

At rest, given a sealing key (the account's local data key, see local_db), the index is one
AES-256-GCM blob ("E2I1", a 12-byte nonce, the sealed SQLite database): it is read into memory
at start and written back every SAVE_EVERY_CHANGES changes and at close. An index that does not
open with the key (another key, a file from before) is dropped: it is rebuilt as history is
read. `forget` deletes it (sign-out).

All database work runs on one thread (one writer, as in the outbox). Messages go in as the
server serializes them and are read there (decrypted with the account's E2E keys), so a
page of history never decrypts on the GUI thread.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import sqlite3
from pathlib import Path
from typing import Callable

from cryptography.exceptions import InvalidTag

from messenger.client.services.keys import E2EKeys
from messenger.client.services.local_db import LocalSeal, delete_local_database, migrate, open_local_database
from messenger.client.services.messages import ContentState, read_content, read_message
from messenger.client.services.outbox import outbox_path
from messenger.core.files import write_atomic

log = logging.getLogger(__name__)

SCHEMA = [
    # Version 1. Add a migration at the end of this list; never edit one that shipped.
    """
    CREATE TABLE indexed_messages (
        message_id INTEGER PRIMARY KEY,
        room_id INTEGER NOT NULL,
        sender_id INTEGER,
        sender_name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE VIRTUAL TABLE message_words USING fts5(
        body, content='indexed_messages', content_rowid='message_id', tokenize='trigram');
    CREATE TRIGGER indexed_messages_added AFTER INSERT ON indexed_messages BEGIN
        INSERT INTO message_words (rowid, body) VALUES (new.message_id, new.body);
    END;
    CREATE TRIGGER indexed_messages_removed AFTER DELETE ON indexed_messages BEGIN
        INSERT INTO message_words (message_words, rowid, body) VALUES ('delete', old.message_id, old.body);
    END;
    CREATE TRIGGER indexed_messages_changed AFTER UPDATE OF body ON indexed_messages BEGIN
        INSERT INTO message_words (message_words, rowid, body) VALUES ('delete', old.message_id, old.body);
        INSERT INTO message_words (rowid, body) VALUES (new.message_id, new.body);
    END;
    """,
]
TRIGRAM = 3  # the shortest term the trigram index can look up
DEFAULT_LIMIT = 100
SNIPPET_CHARS = 80
# Messages kept (in memory) until their room key arrives, at most.
WAITING_MAX = 5_000
SEALED_MAGIC = b"E2I1"
# A sealed index is written back after this many changes (and at close): a crash loses at most
# these, which the history read again brings back.
SAVE_EVERY_CHANGES = 500


@dataclasses.dataclass(frozen=True)
class SearchHit:
    message_id: int
    room_id: int
    sender_id: int | None
    sender_name: str
    created_at: str  # ISO 8601 UTC, as the server wrote it
    body: str
    terms: tuple[str, ...]

    def snippet(self, width: int = SNIPPET_CHARS) -> list[tuple[str, bool]]:
        """About `width` characters of the text around the first hit, as pieces
        `(text, is_hit)`; "…" marks text left out."""
        body = " ".join(self.body.split())
        folded = body.lower()
        if len(folded) != len(body):  # a letter whose lower case is longer: look without folding
            folded = body
        hits = [False] * len(body)
        first = len(body)
        for term in self.terms:
            at = folded.find(term) if term else -1
            first = min(first, at) if at >= 0 else first
            while at >= 0:
                hits[at:at + len(term)] = [True] * len(term)
                at = folded.find(term, at + len(term))
        begin = max(0, min(first - width // 3, len(body) - width))
        end = min(len(body), begin + width)
        pieces: list[tuple[str, bool]] = []
        for index in range(begin, end):
            if pieces and pieces[-1][1] == hits[index]:
                pieces[-1] = (pieces[-1][0] + body[index], hits[index])
            else:
                pieces.append((body[index], hits[index]))
        return ([("…", False)] if begin > 0 else []) + pieces + ([("…", False)] if end < len(body) else [])


def search_index_path(data_dir: Path, server_url: str, username: str) -> Path:
    """One index per account, named as that account's outbox is."""
    return Path(data_dir) / "search" / outbox_path(data_dir, server_url, username).name


def query_terms(query: str) -> tuple[str, ...]:
    """The terms of a query: its words in lower case, each once."""
    return tuple(dict.fromkeys(word.lower() for word in query.split()))


class SearchIndex:
    def __init__(self, path: Path | str, keys: Callable[[], E2EKeys | None] = lambda: None, *,
                 sealing_key: bytes | None = None):
        """An index in the SQLite file `path` (sealed under `sealing_key` when given); `keys()`
        gives the E2E keys to read messages with."""
        self.path = Path(path)
        self.keys = keys
        self._sealing = LocalSeal(sealing_key) if sealing_key is not None else None
        self._changes = 0  # since the sealed file was last written
        self._db_thread = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="search-index", initializer=self._open)
        # The database thread's only:
        self._conn: sqlite3.Connection | None = None
        self._waiting: dict[int, dict] = {}  # message id -> a message waiting for its room key

    # -- public (callable from any thread; writes return at once) ------------------------------

    def add(self, messages: list[dict]) -> concurrent.futures.Future:
        """Index messages as the server serializes them (a new one, a page of history);
        a deleted or unreadable one leaves the index."""
        return self._write(self._add, list(messages))

    def edit(self, room_id: int, message_id: int, content: str, encrypted: bool) -> concurrent.futures.Future:
        """A `message_edited` event: the new text replaces the old one, if the message is indexed."""
        return self._write(self._edit, room_id, message_id, content, encrypted)

    def remove(self, message_id: int) -> concurrent.futures.Future:
        """A `message_deleted` event."""
        return self._write(self._remove, message_id)

    def keys_changed(self, room_id: int) -> concurrent.futures.Future:
        """A room's keys arrived: read its messages that were waiting for them again."""
        return self._write(self._keys_changed, room_id)

    def search(self, query: str, *, room_id: int | None = None, limit: int = DEFAULT_LIMIT) -> list[SearchHit]:
        """The messages holding every term of `query`, newest first (blocks until answered)."""
        return self._later(self._search, query_terms(query), room_id, limit).result()

    def count(self) -> int:
        return self._later(lambda: self._conn.execute("SELECT COUNT(*) FROM indexed_messages").fetchone()[0]).result()

    def forget(self) -> None:
        """Close, and delete the index from this computer (sign-out)."""
        self.close()
        delete_local_database(self.path)

    def close(self) -> None:
        """Finish the queued writes and close the file (once; later calls do nothing)."""
        try:
            self._db_thread.submit(self._close)
        except RuntimeError:
            return  # closed already
        self._db_thread.shutdown(wait=True)

    # -- database thread ---------------------------------------------------------------------

    def _later(self, function, *args) -> concurrent.futures.Future:
        return self._db_thread.submit(function, *args)

    def _write(self, function, *args) -> concurrent.futures.Future:
        """Queue a change. Once closed, changes are dropped: live events still arrive while
        the session closes."""
        try:
            return self._later(self._if_open, function, args)
        except RuntimeError:  # the thread is shut down
            dropped: concurrent.futures.Future = concurrent.futures.Future()
            dropped.set_result(None)
            return dropped

    def _if_open(self, function, args: tuple) -> None:
        if self._conn is not None:
            function(*args)
            self._changes += 1
            if self._sealing is not None and self._changes >= SAVE_EVERY_CHANGES:
                self._save_sealed()

    def _open(self) -> None:
        if self._sealing is None:
            # An index can be filled again: no fsync per message.
            self._conn = open_local_database(self.path, SCHEMA, synchronous="NORMAL")
            return
        self._conn = sqlite3.connect(":memory:", isolation_level=None)
        stored = self._open_sealed()
        if stored is not None:
            self._conn.deserialize(stored)
        migrate(self._conn, SCHEMA)

    def _open_sealed(self) -> bytes | None:
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            if not blob.startswith(SEALED_MAGIC):
                raise InvalidTag  # a plaintext index from before: it must not stay on disk
            return self._sealing.open(blob[len(SEALED_MAGIC):], SEALED_MAGIC)
        except InvalidTag:
            log.warning("the search index does not open with this account's local data key; starting afresh")
            delete_local_database(self.path)
            return None

    def _save_sealed(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(self.path, SEALED_MAGIC + self._sealing.seal(self._conn.serialize(), SEALED_MAGIC))
        self._changes = 0

    def _close(self) -> None:
        if self._conn is not None:
            if self._sealing is not None and self._changes:
                self._save_sealed()
            self._conn.close()
            self._conn = None

    def _add(self, messages: list[dict]) -> None:
        keys = self.keys()
        with self._conn:  # one transaction per batch
            self._conn.execute("BEGIN")
            for message in messages:
                text = self._readable_text(keys, message)
                if text is None:
                    self._conn.execute("DELETE FROM indexed_messages WHERE message_id = ?", (message["id"],))
                    continue
                self._conn.execute(
                    "INSERT INTO indexed_messages (message_id, room_id, sender_id, sender_name, created_at, body)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO UPDATE SET body = excluded.body,"
                    " sender_name = excluded.sender_name WHERE body != excluded.body"
                    " OR sender_name != excluded.sender_name",
                    (message["id"], message["room_id"], message.get("sender_id"), message.get("sender_name") or "",
                     message.get("created_at") or "", text))

    def _readable_text(self, keys: E2EKeys | None, message: dict) -> str | None:
        """What a message reads as here, to be found by: its text or its file's name; None for
        a deleted message or one this device cannot read (kept aside if its key is coming)."""
        self._waiting.pop(message["id"], None)
        if message.get("deleted"):
            return None
        readable = read_message(keys, message)
        if readable.state is ContentState.WAITING_FOR_KEYS and len(self._waiting) < WAITING_MAX:
            self._waiting[message["id"]] = message
        return (readable.display() or None) if readable.shown else None

    def _keys_changed(self, room_id: int) -> None:
        waiting = [m for m in self._waiting.values() if m["room_id"] == room_id]
        if waiting:
            self._add(waiting)

    def _edit(self, room_id: int, message_id: int, content: str, encrypted: bool) -> None:
        if message_id in self._waiting:
            self._add([{**self._waiting[message_id], "content": content, "encrypted": encrypted}])
            return
        readable = read_content(self.keys(), room_id, content, encrypted=encrypted)
        if readable.shown and readable.text:
            self._conn.execute("UPDATE indexed_messages SET body = ? WHERE message_id = ?", (readable.text, message_id))
        else:
            self._remove(message_id)

    def _remove(self, message_id: int) -> None:
        self._waiting.pop(message_id, None)
        self._conn.execute("DELETE FROM indexed_messages WHERE message_id = ?", (message_id,))

    def _search(self, terms: tuple[str, ...], room_id: int | None, limit: int) -> list[SearchHit]:
        if not terms:
            return []
        conditions, args = [], []
        words = [term for term in terms if len(term) >= TRIGRAM]
        if words:
            # Each word a quoted phrase: nothing in it is FTS5 syntax.
            conditions.append("message_id IN (SELECT rowid FROM message_words WHERE message_words MATCH ?)")
            args.append(" AND ".join('"' + word.replace('"', '""') + '"' for word in words))
        for term in terms:
            if len(term) < TRIGRAM:
                escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                conditions.append("body LIKE ? ESCAPE '\\'")
                args.append(f"%{escaped}%")
        if room_id is not None:
            conditions.append("room_id = ?")
            args.append(room_id)
        rows = self._conn.execute(
            "SELECT message_id, room_id, sender_id, sender_name, created_at, body FROM indexed_messages"
            f" WHERE {' AND '.join(conditions)} ORDER BY message_id DESC LIMIT ?", (*args, limit))
        return [SearchHit(*row, terms=terms) for row in rows]
