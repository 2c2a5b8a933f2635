"""Where the windows get a message's text: bubbles, reply quotes, room-list previews,
notices and notifications all go through `MessageText`.

Decrypting is the services' job (`messenger.client.services.messages.read_content`, shared
with the command-line client); this adds how the desktop words it. The device's end-to-end
keys are given in here, and only here: until the app holds them (`keys` None) encrypted
content shows as waiting for keys, and plaintext as it is.

Decrypting a page of history (a legacy v2 envelope costs a PBKDF2 each) is done off the GUI
thread: the session's worker calls `read_page` as the page arrives, which keeps what each
message reads as in a per-room cache; the models, on the GUI thread, then find it there (and
find it again when the room is opened again). A message that is waiting for its key is
not kept, nor plaintext (nothing to decrypt), and what did not open is forgotten when the
room's keys change.
"""

from __future__ import annotations

import collections
import threading
from typing import Iterable

from messenger.client.i18n import language, tr
from messenger.client.services.keys import E2EKeys
from messenger.client.services.messages import ContentState, Readable, open_ahead, read_message

CACHED_MESSAGES = 20_000  # decrypted messages kept; past that, the rooms least recently read go first
# What `read_message` reads of a message besides its room: the cache key.
READ_FIELDS = ("content", "encrypted", "message_type", "file_name", "file_size", "file_id", "file_url", "id", "sender_id",
               "reply_to")


class MessageText:
    def __init__(self, keys: E2EKeys | None = None):
        """`keys`: this device's end-to-end keys (None: it holds none yet)."""
        self._lock = threading.Lock()
        self._rooms: collections.OrderedDict[int, dict[tuple, Readable]] = collections.OrderedDict()
        self._cached = 0  # messages in the cache, all rooms together
        self._generation: dict[int, int] = {}  # room -> how many times its keys changed
        self._keys = keys

    @property
    def keys(self) -> E2EKeys | None:
        return self._keys

    @keys.setter
    def keys(self, keys: E2EKeys | None) -> None:
        """Another device session's keys (or none): nothing read with the old ones stays."""
        with self._lock:
            self._keys = keys
            self._rooms.clear()
            self._cached = 0
            self._generation.clear()

    def read(self, room_id: int, message: dict) -> Readable:
        """What a message (or a reply or notice preview of one) of `room_id`, as the server
        serializes it, reads as here (its file's real name and key included)."""
        found = None
        if message.get("encrypted"):  # plaintext is never cached: there is nothing to decrypt
            key = tuple(message.get(field) for field in READ_FIELDS)
            with self._lock:
                found = self._rooms.get(room_id, {}).get(key)
        return found if found is not None else read_message(self._keys, {**message, "room_id": room_id})

    def read_page(self, room_id: int, messages: Iterable[dict]) -> None:
        """Decrypt a page of `room_id`'s messages (and the replies they quote) into the cache;
        called on a worker thread, so that the GUI thread finds them read."""
        with self._lock:
            keys, generation = self._keys, self._generation.get(room_id, 0)
            known = self._rooms.get(room_id, {})  # only looked into below (a lookup needs no lock)
        unread: dict[tuple, dict] = {}
        for message in messages:
            for shown in (message, message.get("reply_preview")):
                if not shown or shown.get("deleted") or not shown.get("encrypted"):
                    continue
                key = tuple(shown.get(field) for field in READ_FIELDS)
                if key not in known:
                    unread.setdefault(key, {**shown, "room_id": room_id})
        open_ahead(keys, list(unread.values()))
        fresh: dict[tuple, Readable] = {}
        for key, shown in unread.items():  # in order: which of two alike a replay mark falls on
            readable = read_message(keys, shown)
            if readable.state is not ContentState.WAITING_FOR_KEYS:
                fresh[key] = readable
        with self._lock:
            if keys is not self._keys or generation != self._generation.get(room_id, 0):
                return  # the keys changed meanwhile: what this read may be out of date
            room = self._rooms.setdefault(room_id, {})
            before = len(room)
            room.update(fresh)
            self._cached += len(room) - before
            self._rooms.move_to_end(room_id)
            while self._cached > CACHED_MESSAGES and len(self._rooms) > 1:
                self._cached -= len(self._rooms.popitem(last=False)[1])

    def keys_changed(self, room_id: int) -> None:
        """The room's keys changed here: what did not open may open now."""
        with self._lock:
            self._generation[room_id] = self._generation.get(room_id, 0) + 1
            room = self._rooms.get(room_id)
            if room:
                for key in [key for key, readable in room.items() if readable.state is not ContentState.READABLE]:
                    del room[key]
                    self._cached -= 1

    def show(self, room_id: int, content: str, encrypted: bool, message_type: str = "text",
             file_name: str | None = None) -> str:
        """The text a person reads for a message (or a reply or preview of one) of `room_id`."""
        return self.of(room_id, {"content": content, "encrypted": encrypted, "message_type": message_type,
                                 "file_name": file_name})

    @staticmethod
    def words(readable: Readable, message_type: str = "text") -> str:
        """How the desktop words a readable message."""
        if readable.shown and readable.file is not None:
            kind = "image" if message_type == "image" else "file"
            return tr(f"message.{kind}", name=readable.file.name)
        return readable.display(language())

    def of(self, room_id: int, message: dict) -> str:
        """`show` for a message, reply preview, notice or last-message preview of `room_id` as
        the server serializes it (previews carry no room id of their own)."""
        return self.words(self.read(room_id, message), message.get("message_type") or "text")
