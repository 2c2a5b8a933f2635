"""Messages as they travel and as people read them: the one place where plaintext becomes
wire content and wire content becomes something to show.

Outgoing: `encrypt_text` turns text into a v5 envelope (`encrypted: true`) under the room's
current key, signed by this device and naming its reply or edit target (spec/e2e.md §2a);
`seal_file` encrypts a file on this device (`encrypt_file`) into an opaque blob and a v5
envelope of `{name, size, mime, file_key}` for the file or image message, and
`upload_blob` uploads the blob under a meaningless name (`share_file` does both and sends;
the desktop app does them in the outbox). The server learns neither the name nor the content
nor the key; it gives the message its `file_id` when the upload token is spent.

Incoming: `read_content` (or `read_message` for a message as the server serializes it)
gives a `Readable`: the text or shared file, or a clear state: waiting for keys (clears by
itself; `E2EKeys` listeners say when to read again), tampered (a v5 envelope whose signature,
sender, target or place in its sender's sequence does not check is tampered too), cannot
decrypt, malformed, or not end-to-end encrypted. A readable v3 message is marked not signed, a
v1/v2 one old format. It never blocks and never raises for any content. `fetch_file`
downloads and decrypts a shared file; an image message is treated as an image only when its
decrypted bytes are one (`decrypt_image`), whatever its name or type claim.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import json
import mimetypes
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, TypeVar

import httpx

from messenger.client.services.api import USER_AGENT, ApiClient, ServerRefused, ServerUnreachable, _CountingReader
from messenger.client.services.keys import E2EError, E2EKeys, IdentityPending, KeyAvailability
from messenger.client.services.outbox import OutgoingMessage
from messenger.core import protocol
from messenger.core.e2e import (
    AuthenticationFailed,
    EnvelopeError,
    EnvelopeTampered,
    UnverifiedSender,
    WrongRoomKey,
    decrypt_image,
    encrypt_file,
)
from messenger.core.errors import DEFAULT_LOCALE, localized
from messenger.core.files import write_atomic
from messenger.core.media import sniff_image
from messenger.core.names import display_name

# Prefixes of the envelope formats (spec/e2e.md §2); other "encrypted" content is plaintext.
V5_PREFIX = "v5:"
V3_PREFIX = "v3:"
LEGACY_PREFIXES = ("v2:", "U2FsdGVkX1")
# The multipart file name of every encrypted upload: it tells the server nothing.
BLOB_NAME = "e2e.bin"
TRANSFER_TIMEOUT_SECONDS = 120.0


class ContentState(str, enum.Enum):
    READABLE = "readable"  # opened (v3, or a legacy envelope)
    NOT_ENCRYPTED = "not_encrypted"  # shown, but marked: the server could read or write it
    WAITING_FOR_KEYS = "waiting_for_keys"  # the key is on its way; read again when keys change
    TAMPERED = "tampered"  # the right key, changed content: never shown
    CANNOT_DECRYPT = "cannot_decrypt"  # no key for it here, for good (or a format that cannot tell)
    MALFORMED = "malformed"


@dataclasses.dataclass(frozen=True)
class SharedFile:
    """A file as its message describes it. `file_key` is None for a plaintext upload."""

    name: str
    size: int | None
    mime: str
    file_key: str | None
    file_id: int | None = None
    url: str | None = None


@dataclasses.dataclass(frozen=True)
class Readable:
    """What a message's content reads as on this device."""

    state: ContentState
    text: str | None = None
    file: SharedFile | None = None
    error_code: str | None = None  # a messenger.core.errors code for every state but READABLE
    legacy: bool = False  # a v1/v2 envelope of the old system: its server held the room key
    signed: bool = False  # a v5 envelope whose sender device and place checked (else: "not signed")

    @property
    def shown(self) -> bool:
        """Whether there is content to show (READABLE or NOT_ENCRYPTED)."""
        return self.state in (ContentState.READABLE, ContentState.NOT_ENCRYPTED)

    @property
    def end_to_end(self) -> bool:
        return self.state is ContentState.READABLE

    @property
    def mark(self) -> str | None:
        """The code of the mark a shown message carries, if any: not encrypted, old format (v1/v2:
        the old server held the key), not signed (v3: its sender is the server's word)."""
        if self.state is ContentState.NOT_ENCRYPTED:
            return "E2E_NOT_ENCRYPTED"
        if self.state is ContentState.READABLE and self.legacy:
            return "E2E_OLD_FORMAT"
        if self.state is ContentState.READABLE and not self.signed:
            return "E2E_NOT_SIGNED"
        return None

    def display(self, locale: str = DEFAULT_LOCALE) -> str:
        """One line of text for a person: the message, the file's name, or why it is not shown."""
        if self.shown:
            return self.file.name if self.file is not None else self.text or ""
        return localized(self.error_code or "E2E_MALFORMED", locale)


def read_content(keys: E2EKeys | None, room_id: int, content: str, *, encrypted: bool,
                 message_type: str = "text", file_name: str | None = None, file_size: int | None = None,
                 file_id: int | None = None, file_url: str | None = None, message: dict | None = None) -> Readable:
    """What `content` of a message in `room_id` reads as (see the module docstring). `keys`
    None: this device holds no keys (encrypted content then waits for keys). The file fields
    are the server's, used for plaintext file messages and to find an encrypted file's blob;
    `message` is the message as the server serializes it, which a v5 envelope is checked against."""
    is_file = message_type in ("file", "image")
    if not encrypted or not content.startswith((V5_PREFIX, V3_PREFIX, *LEGACY_PREFIXES)):
        # The server could have written this: shown, but never as end-to-end encrypted.
        if is_file:
            shared = SharedFile(display_name(file_name or ""), file_size, "application/octet-stream", None, file_id,
                                file_url)
            return Readable(ContentState.NOT_ENCRYPTED, file=shared, error_code="E2E_NOT_ENCRYPTED")
        return Readable(ContentState.NOT_ENCRYPTED, text=content, error_code="E2E_NOT_ENCRYPTED")
    if keys is None:
        return Readable(ContentState.WAITING_FOR_KEYS, error_code="E2E_WAITING_FOR_KEYS")
    try:
        if content.startswith(V5_PREFIX):
            text = keys.open_signed(room_id, content, message).text
        elif content.startswith(V3_PREFIX):
            text = keys.keyring(room_id).decrypt(content)
        else:
            text = keys.open_legacy(room_id, content)
            if text is None:  # being opened off this thread: listeners hear the room when it is
                return Readable(ContentState.WAITING_FOR_KEYS, error_code="E2E_WAITING_FOR_KEYS")
    except IdentityPending:  # a v5 sender's identity is being looked up: listeners say when
        return Readable(ContentState.WAITING_FOR_KEYS, error_code="E2E_WAITING_FOR_KEYS")
    except AuthenticationFailed as exc:  # v2: a wrong key and a change look alike
        return Readable(ContentState.CANNOT_DECRYPT, error_code=exc.code)
    except (EnvelopeTampered, UnverifiedSender) as exc:
        return Readable(ContentState.TAMPERED, error_code=exc.code)
    except WrongRoomKey as exc:
        if content.startswith((V5_PREFIX, V3_PREFIX)):
            availability = keys.key_availability(room_id, content.split(":", 2)[1])
        else:
            availability = keys.legacy_key_availability(room_id)
        if availability is KeyAvailability.WAITING:
            return Readable(ContentState.WAITING_FOR_KEYS, error_code="E2E_WAITING_FOR_KEYS")
        return Readable(ContentState.CANNOT_DECRYPT, error_code=exc.code)
    except EnvelopeError as exc:
        return Readable(ContentState.MALFORMED, error_code=exc.code)
    legacy, signed = content.startswith(LEGACY_PREFIXES), content.startswith(V5_PREFIX)
    if not is_file:
        return Readable(ContentState.READABLE, text=text, legacy=legacy, signed=signed)
    try:
        described = json.loads(text)
        # The sender chose the name: no path, no direction overrides (see messenger.core.names).
        shared = SharedFile(display_name(str(described["name"])), int(described["size"]), str(described["mime"]),
                            str(described["file_key"]), file_id, file_url)
    except (ValueError, KeyError, TypeError):
        return Readable(ContentState.MALFORMED, error_code="E2E_MALFORMED")
    return Readable(ContentState.READABLE, file=shared, legacy=legacy, signed=signed)


def read_message(keys: E2EKeys | None, message: dict) -> Readable:
    """`read_content` for a message (or an edit) as the server serializes it (a deleted
    message reads as empty, not encrypted: show it as deleted)."""
    return read_content(keys, message["room_id"], message.get("content") or "",
                        encrypted=bool(message.get("encrypted")), message_type=message.get("message_type") or "text",
                        file_name=message.get("file_name"), file_size=message.get("file_size"),
                        file_id=message.get("file_id"), file_url=message.get("file_url"), message=message)


Item = TypeVar("Item")

# A v5 envelope's first read is mostly libsodium's signature check, which releases the GIL: on
# two cores a page opens in about half the time (72-80 -> 41-43 ms per 1,000 on 2 cores).
_SECOND_OPENER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="second-opener")
SPLIT_AT = 16  # fewer items are opened on the calling thread alone: a hand-over costs more


def in_two(work: Callable[[Item], object], items: Sequence[Item]) -> None:
    """`work` on every item, the second half on a thread of its own meanwhile."""
    if len(items) < SPLIT_AT:
        for item in items:
            work(item)
        return
    half = len(items) // 2
    second = _SECOND_OPENER.submit(lambda: [work(item) for item in items[half:]])
    for item in items[:half]:
        work(item)
    second.result()


def open_ahead(keys: E2EKeys | None, messages: Sequence[dict]) -> None:
    """Open the v5 envelopes of `messages` (as `read_message` takes them) on two threads into
    the keys' cache of opened envelopes: reading them next, in order, then costs only the checks
    against the server's fields and the sender's order. What does not open is left to that read
    to say."""
    if keys is None:
        return

    def open_one(message: dict) -> None:
        try:
            keys.open_signed(message["room_id"], message["content"])
        except EnvelopeError:
            pass

    in_two(open_one, [m for m in messages if str(m.get("content") or "").startswith(V5_PREFIX)])


# -- sending --------------------------------------------------------------------------------------

def encrypt_text(keys: E2EKeys, room_id: int, text: str, *, reply_to: int | None = None, edit_of: int | None = None,
                 timeout: float = 20.0) -> str:
    """The wire content (a v5 envelope, sent with `encrypted: true`) of a text message, or of
    the edit of message `edit_of`; the signature covers `reply_to` (sent beside it). Raises E2EError (MESSAGE_TOO_LONG, VALIDATION_ERROR for
    blank text, E2E_ROOM_KEY_UNAVAILABLE, ROOM_NOT_FOUND), ServerRefused, ServerUnreachable."""
    if len(text) > protocol.MAX_PLAINTEXT_CHARS:
        raise E2EError("MESSAGE_TOO_LONG", f"at most {protocol.MAX_PLAINTEXT_CHARS} characters")
    if not text.strip():
        raise E2EError("VALIDATION_ERROR", "the message is empty")
    return keys.encrypt(room_id, text, timeout, reply_to=reply_to, edit_of=edit_of)


def send_text(keys: E2EKeys, realtime, room_id: int, text: str, *, reply_to: int | None = None,
              client_msg_id: str | None = None, timeout: float = 20.0) -> dict:
    """Encrypt and send a text message now (no outbox); returns the ack `{message_id}`."""
    content = encrypt_text(keys, room_id, text, reply_to=reply_to, timeout=timeout)
    return realtime.send_message(room_id, content, encrypted=True, client_msg_id=client_msg_id or uuid.uuid4().hex,
                                 reply_to=reply_to)


def file_message_type(data: bytes) -> str:
    """"image" when `data` (a file's bytes, or its first ones) is an image, else "file".
    Raises E2EError VALIDATION_ERROR for an empty file: there is nothing to send."""
    if not data:
        raise E2EError("VALIDATION_ERROR", "the file is empty")
    return "image" if sniff_image(data) else "file"


def seal_file(keys: E2EKeys, room_id: int, data: bytes, name: str, *, message_type: str | None = None,
              reply_to: int | None = None, timeout: float = 20.0) -> tuple[str, bytes]:
    """Encrypt a file on this device: `(content, blob)`, the wire content (a v5 envelope of
    `{name, size, mime, file_key}`, signed as a `message_type` message, by default the one
    `file_message_type` gives, sent with `encrypted: true`) and the opaque blob to upload.
    Sealed first: a room that cannot get a key fails before anything is uploaded."""
    mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    blob, file_key = encrypt_file(data)
    described = json.dumps({"name": name, "size": len(data), "mime": mime, "file_key": file_key}, ensure_ascii=False)
    message_type = message_type or file_message_type(data)
    return keys.encrypt(room_id, described, timeout, message_type=message_type, reply_to=reply_to), blob


def share_file(keys: E2EKeys, api: ApiClient, realtime, room_id: int, data: bytes, name: str, *,
               client_msg_id: str | None = None, timeout: float = 20.0,
               progress: Callable[[int, int], None] | None = None) -> dict:
    """Encrypt `data`, upload the blob, and send it now (no outbox) as an image message
    (when its bytes are an image) or a file message; returns the ack `{message_id}`.
    `progress(sent, total)` is called from this thread as the blob goes out."""
    message_type = file_message_type(data)
    content, blob = seal_file(keys, room_id, data, name, message_type=message_type, timeout=timeout)
    token = upload_blob(api, room_id, blob, message_type, progress)
    return realtime.send_message(room_id, content, encrypted=True, client_msg_id=client_msg_id or uuid.uuid4().hex,
                                 message_type=message_type, upload_token=token)


# -- the outbox's preparers: run before each attempt to send (ui/session.py registers them) -----

def seal_outgoing_text(keys: E2EKeys, message: OutgoingMessage, *, timeout: float) -> dict:
    """The plaintext the outbox keeps, sealed for the room (fields for send_message)."""
    if not message.encrypted:
        return {}
    return {"content": encrypt_text(keys, message.room_id, message.content, reply_to=message.reply_to, timeout=timeout), "encrypted": True}


def seal_and_upload_outgoing_file(keys: E2EKeys, api: ApiClient, message: OutgoingMessage, data: bytes, *,
                                  timeout: float, progress: Callable[[int], None] | None = None) -> dict:
    """A file message of the outbox, its copy's bytes `data` (Outbox.read_file), encrypted for the
    room and uploaded (again at each attempt: an upload token is spent by one send and expires
    soon). `progress(percent)` is called once per percent, from this thread."""
    content, blob = seal_file(keys, message.room_id, data, message.attachment["name"], message_type=message.message_type,
                              reply_to=message.reply_to, timeout=timeout)
    shown = -1

    def report(sent: int, total: int) -> None:
        nonlocal shown
        percent = sent * 100 // total if total else 100
        if percent != shown and progress is not None:  # a call per percent, not per chunk
            shown = percent
            progress(min(percent, 100))

    token = upload_blob(api, message.room_id, blob, message.message_type, report)
    return {"content": content, "encrypted": True, "upload_token": token}


# -- receiving files ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ReceivedFile:
    name: str
    data: bytes
    mime: str
    image_type: str | None  # "png", "jpeg", "gif", "webp" by the decrypted bytes; None: not an image

    @property
    def previewable(self) -> bool:
        return self.image_type is not None


def fetch_file(api: ApiClient, message: dict, readable: Readable | None = None, keys: E2EKeys | None = None
               ) -> ReceivedFile:
    """Download and decrypt the file of a file or image message. Raises E2EError (the
    message's state code when it is not readable; E2E_AUTH_FAILED / E2E_MALFORMED when the
    blob does not open with its key), ServerRefused, ServerUnreachable."""
    readable = readable or read_message(keys, message)
    shared = readable.file
    if not readable.shown or shared is None:
        raise E2EError(readable.error_code or "E2E_MALFORMED", "no readable file in this message")
    if not shared.url:
        raise E2EError("FILE_NOT_FOUND", "the message has no file (deleted?)")
    data, image_type = open_blob(api.download_bytes(shared.url), shared.file_key)
    return ReceivedFile(shared.name, data, shared.mime, image_type)


def open_blob(blob: bytes, file_key: str | None) -> tuple[bytes, str | None]:
    """A downloaded file's bytes and image type: decrypted with `file_key`, or as they are
    for a plaintext upload (None: E2E turned off by the admin). Raises E2EError when the
    blob does not open with its key."""
    if file_key is None:
        return blob, sniff_image(blob)
    try:
        return decrypt_image(blob, file_key)
    except EnvelopeError as exc:
        raise E2EError(exc.code, "the file does not open with its key") from None


def read_file_entry(keys: E2EKeys | None, api: ApiClient, room_id: int, entry: dict) -> dict:
    """A room file list's entry of an encrypted file, with the name, size and `file_key` its
    message holds (the server knows none of them)."""
    found = api.messages(room_id, after_id=entry["message_id"] - 1, limit=1)["messages"]
    message = found[0] if found and found[0]["id"] == entry["message_id"] else {"room_id": room_id}
    readable = read_message(keys, message)
    if not readable.shown or readable.file is None:
        return {**entry, "file_name": readable.display(api.language), "file_key": None}
    return {**entry, "file_name": readable.file.name, "file_size": readable.file.size,
            "file_key": readable.file.file_key}


def download_file(api: ApiClient, file_id: int, destination: str | Path, file_key: str | None,
                  progress: Callable[[int, int], None] | None = None) -> Path:
    """Save a room file at `destination`, decrypted with `file_key` (its message's; None: a
    plaintext upload); the encrypted blob lands beside it, and only the decrypted file takes its name."""
    if file_key is None:
        return api.download(file_id, destination, progress)
    blob = Path(destination).with_name(f".{Path(destination).name}.e2e")
    try:
        data, _ = open_blob(api.download(file_id, blob, progress).read_bytes(), file_key)
        write_atomic(destination, data)
    finally:
        blob.unlink(missing_ok=True)
    return Path(destination)


# -- transfers --------------------------------------------------------------------------------------

def upload_blob(api: ApiClient, room_id: int, blob: bytes, file_type: str,
                progress: Callable[[int, int], None] | None = None) -> str:
    """POST /api/upload of an encrypted blob; returns the upload token for send_message."""
    stream = _CountingReader(io.BytesIO(blob), len(blob), progress)
    answer = _transfer(api, "POST", "/api/upload",
                       data={"room_id": str(room_id), "encrypted": "1", "type": file_type},
                       files={"file": (BLOB_NAME, stream, "application/octet-stream")})
    return answer.json()["upload_token"]


def _transfer(api: ApiClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One file transfer with the device token (ApiClient's transport speaks JSON only)."""
    token = api.token
    if token is None:
        raise ServerRefused("AUTH_REQUIRED", 401, localized("AUTH_REQUIRED", api.language), "not signed in")
    headers = {"Authorization": f"Bearer {token}", "X-App-Language": api.language, "User-Agent": USER_AGENT}
    try:
        with httpx.Client(base_url=api.server_url, verify=api.verify, timeout=TRANSFER_TIMEOUT_SECONDS) as http:
            response = http.request(method, path, headers=headers, **kwargs)
    except httpx.TransportError as exc:
        raise ServerUnreachable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
    if not response.is_success:
        raise ServerRefused.from_http(response, api.language)
    return response
