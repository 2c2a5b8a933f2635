"""Where the windows get a message's text: bubbles, reply quotes, room-list previews and
notifications all go through `MessageText.show`.

Decrypting is the services' job (`messenger.client.services.messages.read_content`, shared
with the command-line client); this adds how the desktop words it. The device's end-to-end
keys are given in here, and only here: until the app holds them (`keys` None) encrypted
content shows as waiting for keys, and plaintext as it is.
"""

from __future__ import annotations

from messenger.client.i18n import language, tr
from messenger.client.services.keys import E2EKeys
from messenger.client.services.messages import Readable, read_content, read_message


class MessageText:
    def __init__(self, keys: E2EKeys | None = None):
        """`keys`: this device's end-to-end keys (None: it holds none yet)."""
        self.keys = keys

    def show(self, room_id: int, content: str, encrypted: bool, message_type: str = "text",
             file_name: str | None = None) -> str:
        """The text a person reads for a message (or a reply or preview of one) of `room_id`."""
        readable = read_content(self.keys, room_id, content, encrypted=encrypted, message_type=message_type,
                                file_name=file_name)
        return self.words(readable, message_type)

    def read(self, room_id: int, message: dict) -> Readable:
        """What a message of `room_id` as the server serializes it reads as here (its file's
        real name and key included)."""
        return read_message(self.keys, {**message, "room_id": room_id})

    @staticmethod
    def words(readable: Readable, message_type: str = "text") -> str:
        """How the desktop words a readable message."""
        if readable.shown and readable.file is not None:
            kind = "image" if message_type == "image" else "file"
            return tr(f"message.{kind}", name=readable.file.name)
        return readable.display(language())

    def of(self, room_id: int, message: dict) -> str:
        """`show` for a message, reply preview or last-message preview of `room_id` as the
        server serializes it (previews carry no room id of their own)."""
        return self.show(room_id, message.get("content") or "", bool(message.get("encrypted")),
                         message.get("message_type") or "text", message.get("file_name"))
