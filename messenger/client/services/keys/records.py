"""What the parts of E2EKeys share: its error, constants, a room's key record and the payload formats."""

from __future__ import annotations

import bisect
import dataclasses
import enum
import hashlib
import json
from datetime import datetime
from typing import Any, Iterable

from messenger.core.e2e import (
    EnvelopeError,
    MalformedEnvelope,
    MessageMisplaced,
    RoomKeyring,
    room_key_id,
)


KEY_CACHE_DIR = "e2e"
BACKUP_FORMAT = "messenger-room-keys/1"
# The server takes at most this many packages in one post (spec/e2e-keys.md §12).
MAX_PACKAGES_PER_POST = 2_000
# How long a device that lacks the room's current key waits for it before making a new version.
CURRENT_KEY_WAIT_SECONDS = 2.0
# While waiting for a key, the room's state is read again this often (events may be late).
KEY_POLL_SECONDS = 1.0
BACKUP_WRITE_ATTEMPTS = 5
# Opened v1/v2 envelopes kept per room (each cost a PBKDF2 to open): a long history, not all of it.
LEGACY_CACHE_PER_ROOM = 50_000
# Opened v5 envelopes kept per room (each cost an Ed25519 verify to open).
SIGNED_CACHE_PER_ROOM = 50_000
# Key changes are written to the backup in one go, this long after the last one.
BACKUP_DEBOUNCE_SECONDS = 2.0
# A device stops sending under a room key after this many of its messages or this long after it
# was made (Megolm's defaults), or when a device that held it is gone (left, revoked).
ROTATE_AFTER_MESSAGES = 100
ROTATE_AFTER_SECONDS = 7 * 86_400
# What a recovery-key blob holds, bound into its associated data with the user id.
RECOVERY_PURPOSE = "identity"
BACKUP_PURPOSE = "room-keys"  # followed by ":<backup version>"
# A key backup passphrase is guessed offline by whoever holds the blob (the server): not too short.
MIN_PASSPHRASE_CHARS = 12
# Refusals that only say "the room moved on meanwhile": read its state again and retry.
RACE_CODES = frozenset({"ROOM_KEY_VERSION_CONFLICT", "ROOM_KEY_TARGET_INVALID"})


class E2EError(Exception):
    """An end-to-end step that could not be done; `code` is a stable code of messenger.core.errors."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


def keep_bounded(cache: dict, key: Any, value: Any, limit: int) -> None:
    """`cache[key] = value`, first dropping the oldest entry when `cache` holds `limit`."""
    if len(cache) >= limit:
        del cache[next(iter(cache))]
    cache[key] = value


class IdentityPending(EnvelopeError):
    """A v5 sender's identity is being looked up: read the message again when listeners hear its room."""

    code = "E2E_WAITING_FOR_KEYS"


class SequenceLog:
    """Where one device's messages in one room stand in its sequence (spec/e2e.md §2a, step 6)."""

    def __init__(self) -> None:
        self._by_seq: dict[int, int] = {}  # seq -> message id
        self._order: list[tuple[int, int]] = []  # (message id, seq), by message id

    def place(self, message_id: int, seq: int) -> None:
        """Record that `message_id` carries `seq`; MessageMisplaced E2E_REPLAYED when that seq
        (or that message) was read with another, E2E_REORDERED when seq does not rise with the
        message ids read so far."""
        known = self._by_seq.get(seq)
        if known == message_id:
            return
        if known is not None:
            raise MessageMisplaced("E2E_REPLAYED", f"sequence {seq} was read as message {known} already")
        at = bisect.bisect_left(self._order, (message_id, -1))
        if at < len(self._order) and self._order[at][0] == message_id:
            raise MessageMisplaced("E2E_REPLAYED", f"message {message_id} was read with another sequence number")
        if (at > 0 and self._order[at - 1][1] >= seq) or (at < len(self._order) and self._order[at][1] <= seq):
            raise MessageMisplaced("E2E_REORDERED", f"sequence {seq} is out of its sender's order")
        self._order.insert(at, (message_id, seq))
        self._by_seq[seq] = message_id


class KeyAvailability(str, enum.Enum):
    HELD = "held"  # this device holds the key: the envelope can be opened
    WAITING = "waiting"  # entitled and on its way (or not yet known here): "waiting for keys"
    UNAVAILABLE = "unavailable"  # this device will not get it (not entitled, removed, not a version)


@dataclasses.dataclass(frozen=True)
class RoomKeyStatus:
    room_id: int
    current_version: int
    held_versions: tuple[int, ...]
    missing_versions: tuple[int, ...]
    is_member: bool

    @property
    def waiting_for_keys(self) -> bool:
        """The room has versions this device is entitled to and does not hold yet."""
        return bool(self.missing_versions)


@dataclasses.dataclass
class RoomState:
    """What this device knows about one room's keys (guarded by E2EKeys._lock)."""

    keys: dict[str, str] = dataclasses.field(default_factory=dict)  # key id -> room key held
    keyring: RoomKeyring = dataclasses.field(default_factory=RoomKeyring)
    versions: dict[int, str] = dataclasses.field(default_factory=dict)  # version -> key id (server's list)
    current_version: int = 0
    rotation_required: bool = True
    missing: set[int] = dataclasses.field(default_factory=set)
    requested: set[int] = dataclasses.field(default_factory=set)
    synced: bool = False  # the server's state was read since start
    stale: bool = True  # something changed since: read it again before sending
    gone: bool = False  # not (or no longer) a member
    created: dict[int, str] = dataclasses.field(default_factory=dict)  # version -> created_at (server's list)
    # Kept in the sealed cache: key ids seen followed by a newer version (a server that lists one
    # of them as current again rolled the room back), and what this device sends under.
    superseded: set[str] = dataclasses.field(default_factory=set)
    sending: dict | None = None  # {key_id, count, devices}: see E2EKeys._rotation_reason
    # v1/v2 envelope -> its plaintext, or the error opening it gave (the legacy key never changes)
    legacy_opened: dict[str, str | EnvelopeError] = dataclasses.field(default_factory=dict)
    legacy_opening: set[str] = dataclasses.field(default_factory=set)  # ... being opened on the worker
    # v5 envelope -> (sender, body) it opened to, or the error; and each sender device's sequence log
    signed_opened: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Members this device seals to (None: not met yet), those listed beyond them, and whether
    # members were added from here since the last version this device made (RoomMembers).
    vouched: set[int] | None = None
    unvouched: set[int] = dataclasses.field(default_factory=set)
    vouch_pending: bool = False
    sequences: dict[int, SequenceLog] = dataclasses.field(default_factory=dict)
    noticed: set[str] = dataclasses.field(default_factory=set)  # key ids seen in messages, not in `versions`
    not_versions: set[str] = dataclasses.field(default_factory=set)  # ... and still not after a sync

    def take_versions(self, versions: list[dict]) -> None:
        """The server's list of versions; every one but the newest is superseded for good."""
        self.versions = {v["key_version"]: v["key_id"] for v in versions}
        self.created = {v["key_version"]: v["created_at"] for v in versions}
        if self.versions:
            newest = max(self.versions)
            self.superseded |= {key_id for version, key_id in self.versions.items() if version != newest}

    def hold(self, room_key: str) -> bool:
        key_id = room_key_id(room_key)
        if key_id in self.keys:
            return False
        self.keys[key_id] = room_key
        self.keyring.add(room_key)
        return True

    def drop(self, key_id: str) -> None:
        self.keys.pop(key_id, None)
        self.keyring = RoomKeyring(self.keys.values())

    def version_of(self, key_id: str) -> int | None:
        return next((version for version, known in self.versions.items() if known == key_id), None)


def device_fingerprint(encryption_key: str, signing_key: str) -> str:
    """What users compare out of band to know a device is who the server says (8 groups of 4 hex)."""
    digest = hashlib.sha256(f"{encryption_key}:{signing_key}".encode()).hexdigest()[:32]
    return " ".join(digest[i:i + 4] for i in range(0, 32, 4))


def timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def key_payload(room_id: int, key_version: int, room_key: str, members: list[int]) -> bytes:
    """A room key sealed to a device, with the members the sealer vouches for (spec/e2e-keys.md §3c)."""
    return json.dumps({"room_id": room_id, "key_version": key_version, "room_key": room_key, "members": members},
                      separators=(",", ":")).encode()


def keys_payload(rooms: dict[int, Iterable[str]]) -> bytes:
    """Room keys by room, as the local cache and the key backup keep them."""
    return json.dumps({"format": BACKUP_FORMAT, "rooms": {str(r): list(keys) for r, keys in rooms.items() if keys}},
                      separators=(",", ":")).encode()


def read_keys_payload(payload: bytes) -> dict[int, list[str]]:
    """The room keys of `keys_payload` output; MalformedEnvelope for anything else. Each key
    is checked to be a v3 room key."""
    try:
        data = json.loads(payload)
        if data.get("format") != BACKUP_FORMAT or not isinstance(data.get("rooms"), dict):
            raise ValueError("not a room key set")
        rooms = {int(room): list(keys) for room, keys in data["rooms"].items()}
        for keys in rooms.values():
            for key in keys:
                room_key_id(key)  # ValueError unless a k1: key
    except (ValueError, TypeError, AttributeError) as exc:
        raise MalformedEnvelope(f"not a set of room keys ({exc})") from None
    return rooms

