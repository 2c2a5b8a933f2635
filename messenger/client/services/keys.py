"""This device's end-to-end keys (spec/e2e-keys.md): its own key pair, the room keys it holds,
and the talk with the server's key directory that keeps them complete.

Where the secrets live:
- The device's private keys (`DeviceKeys.export()`) are kept by the session store, exactly as the
  device token is: the OS keyring, or the protected fallback file when there is none (DPAPI on
  Windows, mode 0600 elsewhere). Their account name is `<username>#device-<id>-keys`, one entry
  per server, user and device session. Never in settings, never in a log line.
- The room keys this device holds are cached in DATA/e2e/<account>-<device>.json as ONE package
  sealed to the device's own public key and signed with its own signing key (spec/e2e.md §4).
  Without the private keys the file is opaque, and nobody can slip a key into it. No room key
  is ever written to disk in plaintext.
- A room key this device seals to another device carries `{room_id, key_version, room_key}`,
  and a received one is taken only for that room and version, and only if its key id matches:
  a server cannot replay one room's package as a key of another room.
- A device's public keys never change (the server refuses new ones for a device session), so
  the first keys seen for a device are pinned (in the same sealed cache), and a device shown
  later with other keys is neither sealed to nor believed: a server cannot swap in a key of
  its own for a device this one already knows.

What it does, by itself, once `attach`ed to the live connection:
- opens the packages sealed to this device (`room_key_available`), checking the sealer's
  signing key as the server lists it;
- asks the room for the versions it lacks ("waiting for keys", `missing_versions`) and
  clears that state when the keys arrive; a listener hears each room whose keys changed;
- answers other devices' key requests (`room_key_requested`, and open requests at start-up)
  after a short random delay, so that not every device answers at once;
- before a message is encrypted, makes and seals the next version when the room needs one
  (`rotation_required`: a member left, or no key yet); of two devices doing that at once the
  loser drops its key and uses the winner's;
- with a backup passphrase set (`remember_backup_passphrase`), merges its keys into the
  user's key backup after they change, and when another device changed it.

Threads: the public methods may be called from any thread; the event callbacks hand their
work to two worker threads, so the realtime dispatcher never waits for the network.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import enum
import hashlib
import json
import logging
import random
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from messenger.client.services.api import ApiClient, ServerRefused
from messenger.client.services.realtime import ConnectionState
from messenger.client.services.session_store import SessionStore, normalize_server_url
from messenger.core.e2e import (
    AuthenticationFailed,
    BackupCost,
    DeviceKeys,
    EnvelopeError,
    LEGACY_KEY_PREFIX,
    MalformedEnvelope,
    RoomKeyring,
    decrypt_key_backup,
    encrypt_envelope,
    encrypt_key_backup,
    new_room_key,
    open_sealed,
    room_key_id,
    seal_to_device,
)
from messenger.core.e2e.identity import (
    IdentityKeys,
    codes_match,
    device_signed_by,
    is_recovery_key,
    new_recovery_key,
    open_with_recovery_key,
    safety_number,
    seal_with_recovery_key,
    verification_code,
)
from messenger.core.files import write_atomic

log = logging.getLogger(__name__)

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
class _Room:
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


class KeyDirectory:
    """The server's key directory calls (spec/e2e-keys.md §12) for one signed-in device."""

    def __init__(self, api: ApiClient):
        self.api = api

    def _call(self, method: str, path: str, **kwargs) -> Any:
        # ApiClient has no methods for these calls yet: its one transport gives them the same
        # token handling, rotation retries and errors as every other call.
        return self.api._call(method, path, **kwargs)

    def current_device_session_id(self) -> int:
        return next(row["id"] for row in self.api.device_sessions() if row["is_current"])

    def publish_device_keys(self, encryption_key: str, signing_key: str) -> dict:
        return self._call("PUT", "/api/keys/device", json={"encryption_key": encryption_key,
                                                           "signing_key": signing_key})

    def user_keys(self, user_id: int) -> dict:
        """`{user_id, identity_key, devices}` of a user sharing a room (or oneself)."""
        return self._call("GET", f"/api/keys/users/{user_id}")

    def identity(self) -> dict | None:
        """The caller's `{identity_key, recovery_blob, ...}`, or None when the user has none yet."""
        return self._get_or_none("/api/keys/identity", "IDENTITY_KEY_NOT_FOUND")

    def publish_identity(self, identity_key: str, recovery_blob: str | None = None, replace: bool = False) -> dict:
        body: dict[str, Any] = {"identity_key": identity_key, "replace": replace}
        if recovery_blob is not None:
            body["recovery_blob"] = recovery_blob
        return self._call("PUT", "/api/keys/identity", json=body)

    def sign_device(self, device_id: int, signature: str) -> dict:
        return self._call("PUT", f"/api/keys/devices/{device_id}/signature", json={"signature": signature})

    def room_devices(self, room_id: int) -> list[dict]:
        return self._call("GET", f"/api/rooms/{room_id}/devices")["devices"]

    def key_state(self, room_id: int) -> dict:
        return self._call("GET", f"/api/rooms/{room_id}/keys/state")

    def my_keys(self, room_id: int) -> dict:
        return self._call("GET", f"/api/rooms/{room_id}/keys/mine")

    def share(self, room_id: int, key_version: int, key_id: str, packages: list[tuple[int, str]]) -> dict:
        body = {"key_version": key_version, "key_id": key_id,
                "packages": [{"device_session_id": device, "sealed": sealed} for device, sealed in packages]}
        return self._call("POST", f"/api/rooms/{room_id}/keys", json=body)

    def open_requests(self, room_id: int) -> list[dict]:
        return self._call("GET", f"/api/rooms/{room_id}/keys/requests")["requests"]

    def request(self, room_id: int, versions: Iterable[int]) -> dict:
        return self._call("POST", f"/api/rooms/{room_id}/keys/requests", json={"versions": sorted(versions)})

    def backup(self) -> dict | None:
        return self._get_or_none("/api/keys/backup", "KEY_BACKUP_NOT_FOUND")

    def _get_or_none(self, path: str, missing_code: str) -> dict | None:
        try:
            return self._call("GET", path)
        except ServerRefused as exc:
            if exc.code == missing_code:
                return None
            raise

    def store_backup(self, blob: str, version: int) -> dict:
        return self._call("PUT", "/api/keys/backup", json={"blob": blob, "version": version})


def device_fingerprint(encryption_key: str, signing_key: str) -> str:
    """What users compare out of band to know a device is who the server says (8 groups of 4 hex)."""
    digest = hashlib.sha256(f"{encryption_key}:{signing_key}".encode()).hexdigest()[:32]
    return " ".join(digest[i:i + 4] for i in range(0, 32, 4))


def _timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _key_payload(room_id: int, key_version: int, room_key: str) -> bytes:
    return json.dumps({"room_id": room_id, "key_version": key_version, "room_key": room_key},
                      separators=(",", ":")).encode()


def _keys_payload(rooms: dict[int, Iterable[str]]) -> bytes:
    """Room keys by room, as the local cache and the key backup keep them."""
    return json.dumps({"format": BACKUP_FORMAT, "rooms": {str(r): list(keys) for r, keys in rooms.items() if keys}},
                      separators=(",", ":")).encode()


def _read_keys_payload(payload: bytes) -> dict[int, list[str]]:
    """The room keys of `_keys_payload` output; MalformedEnvelope for anything else. Each key
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


class E2EKeys:
    """The end-to-end keys of the device signed in on `api`."""

    def __init__(self, api: ApiClient, store: SessionStore, data_dir: Path | str | None = None, *,
                 answer_delay: tuple[float, float] = (0.0, 3.0), backup_cost: BackupCost = BackupCost(),
                 legacy_in_background: bool = False):
        """`store` keeps the private keys (as it keeps the token); `data_dir` (default: the
        store's) holds the sealed room-key cache; `answer_delay`: the random wait, in seconds,
        before answering another device's key request; `legacy_in_background`: open v1/v2
        envelopes on a worker thread (`open_legacy`), for a caller that must not wait (a GUI)."""
        self.api = api
        self.store = store
        self.directory = KeyDirectory(api)
        self.data_dir = Path(data_dir) if data_dir is not None else store.data_dir
        self.answer_delay = answer_delay
        self.backup_cost = backup_cost
        self.device_session_id: int | None = None
        self.user_id: int | None = None
        self.username = ""
        self._device: DeviceKeys | None = None
        self._identity: IdentityKeys | None = None  # the user's identity private key, if held here
        self._identities: dict[int, str] = {}  # user id -> pinned identity public key (own included)
        self._identity_changes: dict[int, str] = {}  # user id -> another identity shown since: refused
        self._signed_devices: set[tuple] = set()  # signatures already checked against a pinned identity
        self.verified = False  # this device carries its user's pinned identity's signature
        self._recovery_key_to_show: str | None = None
        self._rooms: dict[int, _Room] = {}
        self._pins: dict[int, tuple[str, str]] = {}  # device id -> (encryption key, signing key)
        self._pins_unsaved = False
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._generation = 0
        self._room_locks: dict[int, threading.RLock] = {}
        self._listeners: list[Callable[[int], None]] = []
        self._workers = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="e2e-keys")
        self.legacy_in_background = legacy_in_background
        # One thread of its own: a long v2 history must not hold up key syncs and answers.
        self._legacy_worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="e2e-legacy")
        self._timers: set[threading.Timer] = set()
        self._syncs_queued: set[int] = set()
        self._backup_passphrase: str | None = None
        self._backup_timer: threading.Timer | None = None
        self._closed = False

    # -- the device's own keys ------------------------------------------------------------------

    def start(self, device_session_id: int | None = None) -> None:
        """Load this device's keys (or make them, the first time), publish the public halves,
        and open the room-key cache. Raises E2EError E2E_DEVICE_KEYS_LOST if the server holds
        other public keys for this device (the private keys were lost: sign in again)."""
        user = self.api.user or {}
        if not user.get("username"):
            raise E2EError("AUTH_REQUIRED", "no signed-in user")
        self.username = user["username"]
        self.user_id = user["id"]
        self.device_session_id = device_session_id or self.directory.current_device_session_id()
        secret = self.store.load_token(self.api.server_url, self._secret_name)
        made = secret is None
        if made:
            device = DeviceKeys.generate()
            self.store.save_token(self.api.server_url, self._secret_name, device.export())
        else:
            try:
                device = DeviceKeys.load(secret)
            except MalformedEnvelope:
                raise E2EError("E2E_DEVICE_KEYS_LOST", "the stored device keys are unreadable") from None
        try:
            self.directory.publish_device_keys(device.public_key, device.signing_public_key)
        except ServerRefused as exc:
            if exc.code != "DEVICE_KEYS_ALREADY_PUBLISHED":
                raise
            if made:
                self.store.forget_token(self.api.server_url, self._secret_name)
            raise E2EError("E2E_DEVICE_KEYS_LOST", "the server holds other keys for this device") from None
        self._device = device
        self._load_cache()
        self._start_identity()

    # -- the user's identity (cross-signing) ------------------------------------------------------

    def _start_identity(self) -> None:
        """Pin this user's identity and find out whether this device carries its signature.

        With no identity anywhere (the user's first device, or the first start of a client that
        predates identities), make one: it signs this device and the user's devices that this
        device already trusted (pinned) before, so existing devices keep working; a recovery key
        is made for it (`take_new_recovery_key`). A device that holds the identity signs itself
        (a new sign-in on the same computer). Otherwise the device stays unverified until
        another device approves it (`approve_device`) or the recovery key restores the identity.
        """
        held = self._load_identity()
        shown = self.directory.identity()
        shown_key = shown["identity_key"] if shown else None
        made = held is None and shown_key is None
        if made:
            held = self._make_identity()
            try:
                self.directory.publish_identity(held.public_key, self._seal_identity(held))
            except ServerRefused as exc:
                if exc.code != "IDENTITY_KEY_ALREADY_PUBLISHED":
                    raise
                # Another device of this user made one at the same moment: that one counts.
                self.store.forget_token(self.api.server_url, self._identity_secret_name)
                self._identity = held = self._recovery_key_to_show = None
                made = False
                shown_key = self.directory.identity()["identity_key"]
        with self._lock:
            if held is not None:
                self._identities[self.user_id] = held.public_key
            elif self.user_id not in self._identities:
                self._identities[self.user_id] = shown_key  # first use: the code comparison checks it
            pinned = self._identities[self.user_id]
            if shown_key is not None and shown_key != pinned:
                self._identity_changes[self.user_id] = shown_key
            self._pins_unsaved = True
        if held is not None and shown_key is None and not made:
            self.directory.publish_identity(held.public_key)  # the server lost it (a restored database)
        if shown_key is not None and shown_key != pinned:
            log.warning("e2e: the server shows another identity for this user than the one pinned; refused")
        if held is not None and (made or shown_key is None or shown_key == held.public_key):
            self._sign_own_devices(held, migrate=made)
        self.refresh_verified()
        self._save_cache()

    @property
    def _identity_secret_name(self) -> str:
        # Per user, not per device session: a new sign-in on the same computer keeps it.
        return f"{self.username}#identity"

    def _load_identity(self) -> IdentityKeys | None:
        secret = self.store.load_token(self.api.server_url, self._identity_secret_name)
        if secret is None:
            return None
        try:
            self._identity = IdentityKeys.load(secret)
        except MalformedEnvelope:
            log.warning("e2e: the stored identity key is unreadable; ignored")
            return None
        return self._identity

    def _make_identity(self) -> IdentityKeys:
        identity = IdentityKeys.generate()
        self.store.save_token(self.api.server_url, self._identity_secret_name, identity.export())
        self._identity = identity
        self._recovery_key_to_show = new_recovery_key()
        return identity

    def _seal_identity(self, identity: IdentityKeys) -> str | None:
        """The recovery blob of a just-made identity (None when no recovery key was made here)."""
        if self._recovery_key_to_show is None:
            return None
        return seal_with_recovery_key(identity.export().encode(), self._recovery_key_to_show,
                                      RECOVERY_PURPOSE, self.user_id)

    def take_new_recovery_key(self) -> str | None:
        """The recovery key made with this user's identity on this start, once (then None): show
        it to the user to write down; it is kept nowhere."""
        key, self._recovery_key_to_show = self._recovery_key_to_show, None
        return key

    def _sign_own_devices(self, identity: IdentityKeys, migrate: bool) -> None:
        """Sign this device, and with `migrate` the user's devices pinned here before identities existed."""
        for device in self.directory.user_keys(self.user_id)["devices"]:
            device_id = device["device_session_id"]
            keys = (device["encryption_key"], device["signing_key"])
            own = device_id == self.device_session_id
            with self._lock:
                known = self._pins.get(device_id) == keys
            if not (own or (migrate and known)):
                continue
            if device_signed_by(identity.public_key, device.get("identity_signature"), self.user_id, device_id, *keys):
                continue
            signature = identity.sign_device(self.user_id, device_id, *keys)
            self.directory.sign_device(device_id, signature)
            log.info("e2e: signed device %s with the identity", device_id)

    def refresh_verified(self) -> bool:
        """Read whether this device carries the pinned identity's signature now."""
        mine = next((d for d in self.directory.user_keys(self.user_id)["devices"]
                     if d["device_session_id"] == self.device_session_id), None)
        self.verified = mine is not None and self._signed_by_pinned(mine)
        return self.verified

    def _signed_by_pinned(self, device: dict) -> bool:
        with self._lock:
            pinned = self._identities.get(device.get("user_id"))
        check = (pinned, device.get("identity_signature"), device.get("user_id"), device.get("device_session_id"),
                 device.get("encryption_key"), device.get("signing_key"))
        if check in self._signed_devices:
            return True
        if not device_signed_by(*check):
            return False
        with self._lock:
            self._signed_devices.add(check)
        return True

    def _trusted(self, device: dict) -> bool:
        """Whether keys may go to (or be taken from) this device: its keys are the ones pinned
        for it, and its user's pinned identity signed it. A contact's identity is pinned the
        first time it is seen; another identity shown later is recorded (`identity_changes`)
        and its devices are refused."""
        device_id, user_id = device.get("device_session_id"), device.get("user_id")
        if device_id == self.device_session_id:
            own = self._require_device()
            return (device.get("encryption_key"), device.get("signing_key")) == (own.public_key,
                                                                                  own.signing_public_key)
        if not self._vouch(device_id, device.get("encryption_key"), device.get("signing_key")):
            return False
        shown = device.get("identity_key")
        with self._lock:
            pinned = self._identities.get(user_id)
            if pinned is None and shown and user_id != self.user_id:
                self._identities[user_id] = shown
                self._pins_unsaved = True
            elif pinned is not None and shown and shown != pinned and self._identity_changes.get(user_id) != shown:
                self._identity_changes[user_id] = shown
                self._pins_unsaved = True
                log.warning("e2e: user %s is shown with another identity than the pinned one; refused", user_id)
        return self._signed_by_pinned(device)

    def own_devices(self) -> list[dict]:
        """This user's live devices as the server lists them, each with `verified` (signed by the
        pinned identity), `current` (this device) and its `fingerprint`."""
        devices = self.directory.user_keys(self.user_id)["devices"]
        listed = [{**d, "verified": self._trusted(d) and self._signed_by_pinned(d),
                   "current": d["device_session_id"] == self.device_session_id,
                   "fingerprint": device_fingerprint(d["encryption_key"], d["signing_key"])} for d in devices]
        self._save_pins()
        return listed

    def pending_devices(self) -> list[dict]:
        """This user's devices waiting for approval (see `own_devices`)."""
        return [d for d in self.own_devices() if not d["verified"]]

    def verification_code(self, device_id: int | None = None) -> str:
        """The code to compare for a device of this user (this one by default): the new device
        shows it, the approving device asks for it (`approve_device`)."""
        own = self._require_device()
        if device_id is None or device_id == self.device_session_id:
            keys = (own.public_key, own.signing_public_key)
            device_id = self.device_session_id
        else:
            device = next((d for d in self.directory.user_keys(self.user_id)["devices"]
                           if d["device_session_id"] == device_id), None)
            if device is None:
                raise E2EError("DEVICE_SESSION_NOT_FOUND", f"device {device_id}")
            keys = (device["encryption_key"], device["signing_key"])
        with self._lock:
            pinned = self._identities.get(self.user_id)
        return verification_code(pinned or "", self.user_id, device_id, *keys)

    def approve_device(self, device_id: int, code: str) -> dict:
        """Sign another device of this user with the identity held here, after checking the code
        the person read on that device's screen. Raises E2EError E2E_IDENTITY_UNAVAILABLE (this
        device does not hold the identity), DEVICE_SESSION_NOT_FOUND, E2E_VERIFICATION_CODE_WRONG
        (nothing signed: the server may have shown either side other keys)."""
        if self._identity is None:
            raise E2EError("E2E_IDENTITY_UNAVAILABLE")
        device = next((d for d in self.directory.user_keys(self.user_id)["devices"]
                       if d["device_session_id"] == device_id), None)
        if device is None or device_id == self.device_session_id:
            raise E2EError("DEVICE_SESSION_NOT_FOUND", f"device {device_id}")
        keys = (device["encryption_key"], device["signing_key"])
        if not codes_match(code, verification_code(self._identity.public_key, self.user_id, device_id, *keys)):
            raise E2EError("E2E_VERIFICATION_CODE_WRONG")
        with self._lock:
            # Checked by the code: these are the device's keys.
            self._pins.setdefault(device_id, keys)
            self._pins_unsaved = True
        signed = self.directory.sign_device(device_id, self._identity.sign_device(self.user_id, device_id, *keys))
        self._save_pins()
        log.info("e2e: approved device %s", device_id)
        return signed["device"]

    def recover(self, recovery_key: str) -> int:
        """Open the user's identity from its recovery blob with the recovery key, keep it here,
        approve this device with it, and take the key backup if it was written under the
        recovery key; returns how many room keys that restored. Raises E2EError
        IDENTITY_KEY_NOT_FOUND (no recovery blob), E2E_RECOVERY_KEY_WRONG (a wrong or mistyped
        key, or a blob that is not this user's)."""
        shown = self.directory.identity()
        if shown is None or not shown.get("recovery_blob"):
            raise E2EError("IDENTITY_KEY_NOT_FOUND", "no recovery blob on the server")
        try:
            secret = open_with_recovery_key(shown["recovery_blob"], recovery_key, RECOVERY_PURPOSE, self.user_id)
            identity = IdentityKeys.load(secret.decode())
        except (EnvelopeError, UnicodeDecodeError):
            raise E2EError("E2E_RECOVERY_KEY_WRONG") from None
        if identity.public_key != shown["identity_key"]:
            # Only the recovery key's holder can write a blob that opens: the server cannot.
            raise E2EError("E2E_RECOVERY_KEY_WRONG", "the recovery blob holds another identity")
        self.store.save_token(self.api.server_url, self._identity_secret_name, identity.export())
        with self._lock:
            self._identity = identity
        self._take_own_identity(identity)
        stored = self.directory.backup()
        if stored is not None and stored["blob"].startswith("r1:"):
            return self.restore_backup(recovery_key)
        return 0

    def reset_identity(self) -> str:
        """Make a new identity for this user, for when every device holding the old one and the
        recovery key are lost: publish it in place of the old one (which voids every signature
        of it), approve this device with it, and return the new recovery key (show it once).
        Contacts are warned that the identity changed and send nothing until they accept it."""
        identity = self._make_identity()
        self.directory.publish_identity(identity.public_key, self._seal_identity(identity), replace=True)
        self._take_own_identity(identity)
        return self.take_new_recovery_key()

    def _take_own_identity(self, identity: IdentityKeys) -> None:
        """`identity` is this user's from now on: pinned here, and this device signed with it."""
        with self._lock:
            self._identities[self.user_id] = identity.public_key
            self._identity_changes.pop(self.user_id, None)
            self._pins_unsaved = True
        self._sign_own_devices(identity, migrate=False)
        self._after_device_signed(self.device_session_id)
        self._save_pins()

    def identity_changes(self) -> dict[int, str]:
        """Users (this one included) shown with another identity than the one pinned here: their
        devices get no keys until the user checks the safety number and `trust_identity`."""
        with self._lock:
            return dict(self._identity_changes)

    def look_at_identity(self, user_id: int) -> None:
        """Read the identity the server shows for `user_id` now, as a sync would: a change from
        the pinned one is recorded (`identity_changes`). For a one-shot client that never syncs."""
        for device in self.directory.user_keys(user_id)["devices"]:
            self._trusted({**device, "user_id": user_id})

    def safety_number(self, user_id: int, *, changed: bool = False) -> str:
        """What this user and `user_id` compare (in person, by phone) to know each pinned the
        other's real identity. Pins the contact's identity if it was not yet. With `changed`,
        the number of the other identity shown since (`identity_changes`), if any: the one to
        compare before `trust_identity`."""
        with self._lock:
            other = (self._identity_changes.get(user_id) if changed else None) or self._identities.get(user_id)
        if other is None:
            other = self.directory.user_keys(user_id)["identity_key"]
            if other is None:
                raise E2EError("IDENTITY_KEY_NOT_FOUND", f"user {user_id}")
            with self._lock:
                other = self._identities.setdefault(user_id, other)
                self._pins_unsaved = True
            self._save_pins()
        with self._lock:
            own = self._identities[self.user_id]
        return safety_number(self.user_id, own, user_id, other)

    def trust_identity(self, user_id: int) -> str:
        """Pin the identity the server shows now for `user_id` (after the safety number was
        checked); returns it."""
        shown = self.directory.user_keys(user_id)["identity_key"]
        if shown is None:
            raise E2EError("IDENTITY_KEY_NOT_FOUND", f"user {user_id}")
        with self._lock:
            self._identities[user_id] = shown
            self._identity_changes.pop(user_id, None)
            self._pins_unsaved = True
        self._save_pins()
        return shown

    @property
    def fingerprint(self) -> str:
        device = self._require_device()
        return device_fingerprint(device.public_key, device.signing_public_key)

    def forget(self, *, identity: bool = False) -> None:
        """Drop this device's private keys and its room-key cache (after signing out: the
        device session is dead, and its keys with it). The user's identity key stays on this
        computer (a new sign-in here is approved by it) unless `identity` is true."""
        if self.device_session_id is not None:
            self.store.forget_token(self.api.server_url, self._secret_name)
            self._cache_path.unlink(missing_ok=True)
            if identity:
                self.store.forget_token(self.api.server_url, self._identity_secret_name)
        with self._lock:
            self._rooms.clear()
            self._device = None
            if identity:
                self._identity = None

    @property
    def _secret_name(self) -> str:
        return f"{self.username}#device-{self.device_session_id}-keys"

    @property
    def _cache_path(self) -> Path:
        account = f"{normalize_server_url(self.api.server_url)}\n{self.username.lower()}".encode()
        name = f"{hashlib.sha256(account).hexdigest()[:16]}-{self.device_session_id}.json"
        return self.data_dir / KEY_CACHE_DIR / name

    def _require_device(self) -> DeviceKeys:
        if self._device is None:
            raise E2EError("E2E_DEVICE_KEYS_LOST", "E2EKeys.start() has not run")
        return self._device

    def _seal(self, room_id: int, key_version: int, room_key: str, encryption_key: str) -> str:
        device = self._require_device()
        return seal_to_device(_key_payload(room_id, key_version, room_key), encryption_key, sender=device.signing)

    # -- the local cache ----------------------------------------------------------------------

    def _load_cache(self) -> None:
        try:
            raw = json.loads(self._cache_path.read_text(encoding="utf-8"))
            device = self._require_device()
            payload = open_sealed(raw["sealed"], device.exchange, sender_public_key=device.signing_public_key)
            rooms = _read_keys_payload(payload)
            saved = json.loads(payload)
            pins = {int(device_id): tuple(keys) for device_id, keys in saved.get("devices", {}).items()}
            # A cache written before identities existed has neither.
            identities = {int(user_id): key for user_id, key in saved.get("identities", {}).items()}
            changes = {int(user_id): key for user_id, key in saved.get("identity_changes", {}).items()}
            sending = {int(room_id): record for room_id, record in saved.get("sending", {}).items()}
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, AttributeError, EnvelopeError) as exc:
            log.warning("e2e: the room key cache cannot be read (%s); starting without it", type(exc).__name__)
            return
        with self._lock:
            self._pins.update(pins)
            self._identities.update(identities)
            self._identity_changes.update(changes)
            for room_id, record in sending.items():
                room = self._room(room_id)
                room.superseded |= set(record["superseded"])
                room.sending = record["sending"]
            for room_id, keys in rooms.items():
                for key in keys:
                    self._room(room_id).hold(key)

    def _save_cache(self) -> None:
        device = self._require_device()
        with self._lock:
            held = json.loads(_keys_payload({room_id: room.keys.values() for room_id, room in self._rooms.items()}))
            held["devices"] = {str(device_id): list(keys) for device_id, keys in self._pins.items()}
            held["identities"] = {str(user_id): key for user_id, key in self._identities.items() if key}
            held["identity_changes"] = {str(user_id): key for user_id, key in self._identity_changes.items()}
            held["sending"] = {str(room_id): {"superseded": sorted(room.superseded), "sending": room.sending}
                               for room_id, room in self._rooms.items() if room.superseded or room.sending}
            self._pins_unsaved = False
            sealed = seal_to_device(json.dumps(held).encode(), device.public_key, sender=device.signing)
            write_atomic(self._cache_path, json.dumps({"format": 1, "sealed": sealed}) + "\n", mode=0o600)

    def _vouch(self, device_id: int, encryption_key: str | None, signing_key: str | None) -> bool:
        """Whether these are the device's keys: the first ones seen are pinned (saved with the
        cache's next write), and other keys for the same device later are refused."""
        if not encryption_key or not signing_key:
            return False
        shown = (encryption_key, signing_key)
        with self._lock:
            pinned = self._pins.setdefault(device_id, shown)
            self._pins_unsaved |= pinned is shown
        if pinned != shown:
            log.warning("e2e: device %s is shown with other keys than before; refused", device_id)
            return False
        return True

    def _save_pins(self) -> None:
        if self._pins_unsaved:
            self._save_cache()

    # -- state, listeners ---------------------------------------------------------------------

    def _room(self, room_id: int) -> _Room:
        with self._lock:
            return self._rooms.setdefault(room_id, _Room())

    def _room_lock(self, room_id: int) -> threading.RLock:
        with self._lock:
            return self._room_locks.setdefault(room_id, threading.RLock())

    def add_listener(self, listener: Callable[[int], None]) -> None:
        """`listener(room_id)` whenever the keys of a room changed here (a key arrived, the
        waiting state changed): messages shown as "waiting for keys" should be read again.
        Called on a worker thread."""
        self._listeners.append(listener)

    def _notify(self, room_id: int) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()
        for listener in list(self._listeners):
            try:
                listener(room_id)
            except Exception:
                log.exception("e2e keys listener failed")

    @property
    def generation(self) -> int:
        """Grows whenever some room's keys changed (see `wait_for_change`)."""
        return self._generation

    def wait_for_change(self, generation: int, timeout: float) -> int:
        """Wait until `generation` has moved on (or `timeout` seconds); returns the current one."""
        with self._changed:
            self._changed.wait_for(lambda: self._generation != generation, timeout)
            return self._generation

    def status(self, room_id: int) -> RoomKeyStatus:
        with self._lock:
            room = self._room(room_id)
            held = tuple(sorted(v for v, key_id in room.versions.items() if key_id in room.keys))
            return RoomKeyStatus(room_id, room.current_version, held, tuple(sorted(room.missing)), not room.gone)

    def keyring(self, room_id: int) -> RoomKeyring:
        """Every key this device holds for the room (for reading; senders use `encrypt`)."""
        with self._lock:
            return self._room(room_id).keyring

    def open_legacy(self, room_id: int, envelope: str) -> str | None:
        """The plaintext of a v1/v2 `envelope` of the room under its legacy key, cached per room
        (a v2 envelope costs a PBKDF2 to open). With `legacy_in_background`, one not opened yet is
        opened on a worker thread and None is returned: listeners hear the room once the
        envelopes asked for meanwhile are open. Raises what `RoomKeyring.decrypt` raises."""
        with self._lock:
            room = self._room(room_id)
            opened = room.legacy_opened.get(envelope)
            keyring = room.keyring
            later = opened is None and keyring.legacy_key is not None and self.legacy_in_background
            if later and envelope not in room.legacy_opening and not self._closed:
                room.legacy_opening.add(envelope)
                self._legacy_worker.submit(self._open_legacy_later, room_id, keyring, envelope)
        if later:
            return None
        if opened is None:
            opened = self._open_legacy_now(room_id, keyring, envelope)
        if isinstance(opened, EnvelopeError):
            raise opened
        return opened

    def _open_legacy_now(self, room_id: int, keyring: RoomKeyring, envelope: str) -> str | EnvelopeError:
        try:
            opened = keyring.decrypt(envelope)
        except EnvelopeError as exc:
            if keyring.legacy_key is None:
                raise  # the key may still come: nothing to remember
            opened = exc  # the key does not change: neither does this answer
        with self._lock:
            cache = self._room(room_id).legacy_opened
            if len(cache) >= LEGACY_CACHE_PER_ROOM:
                del cache[next(iter(cache))]
            cache[envelope] = opened
        return opened

    def _open_legacy_later(self, room_id: int, keyring: RoomKeyring, envelope: str) -> None:
        self._open_legacy_now(room_id, keyring, envelope)
        with self._lock:
            room = self._room(room_id)
            room.legacy_opening.discard(envelope)
            drained = not room.legacy_opening
        if drained:
            self._notify(room_id)

    def held_key_ids(self, room_id: int) -> set[str]:
        with self._lock:
            return set(self._room(room_id).keys)

    def key_availability(self, room_id: int, key_id: str) -> KeyAvailability:
        """Whether the key an envelope names is here, on its way, or not for this device.
        Never waits: a key id this device cannot place yet has the room's state read again
        in the background (listeners hear the outcome)."""
        with self._lock:
            room = self._room(room_id)
            if key_id in room.keys:
                return KeyAvailability.HELD
            if room.gone:
                return KeyAvailability.UNAVAILABLE
            version = room.version_of(key_id)
            if room.synced and not room.stale and version is not None:
                return KeyAvailability.WAITING if version in room.missing else KeyAvailability.UNAVAILABLE
            if room.synced and key_id in room.not_versions:
                return KeyAvailability.UNAVAILABLE
            if version is None:
                room.noticed.add(key_id)
        self._queue_sync(room_id)
        return KeyAvailability.WAITING

    def legacy_key_availability(self, room_id: int) -> KeyAvailability:
        """`key_availability` for the room's legacy (v4) key, which opens its v1/v2 history: held,
        or on its way while the room has versions this device lacks (an imported office's keys
        come once its admin releases them), or not for this device."""
        with self._lock:
            room = self._room(room_id)
            if room.keyring.legacy_key is not None:
                return KeyAvailability.HELD
            if room.gone:
                return KeyAvailability.UNAVAILABLE
            if room.synced and not room.stale:
                return KeyAvailability.WAITING if room.missing else KeyAvailability.UNAVAILABLE
        self._queue_sync(room_id)
        return KeyAvailability.WAITING

    # -- reading the server's state -------------------------------------------------------------

    def sync_room(self, room_id: int) -> RoomKeyStatus:
        """Read the room's key state and the packages sealed to this device: open the new
        ones, seal to itself what it holds but the server counts as missing (after a backup
        restore), and ask the room for what is still missing."""
        device = self._require_device()
        with self._room_lock(room_id):
            with self._lock:
                noticed = set(self._room(room_id).noticed)
            try:
                # The versions first: a version listed there has its packages in `mine` (both
                # are stored in one step), so a version made meanwhile cannot look unentitled.
                state = self.directory.key_state(room_id)
                mine = self.directory.my_keys(room_id)
            except ServerRefused as exc:
                if exc.code != "ROOM_NOT_FOUND":
                    raise
                with self._lock:
                    room = self._room(room_id)
                    changed = not room.gone
                    room.gone, room.synced, room.stale, room.missing = True, True, False, set()
                if changed:
                    self._notify(room_id)
                return self.status(room_id)
            added = self._open_packages(room_id, mine["packages"], device)
            with self._lock:
                room = self._room(room_id)
                before = (room.current_version, set(room.missing))
                room.take_versions(state["versions"])
                room.current_version = mine["current_version"]
                room.rotation_required = mine["rotation_required"]
                server_missing = set(mine["missing_versions"])
                held_but_missing = {v for v in server_missing if room.versions.get(v) in room.keys}
                # The server counts a version as received once a package is there; a package
                # that did not open (forged, broken) leaves it missing here all the same.
                entitled = server_missing | {p["key_version"] for p in mine["packages"]} | {
                    v["key_version"] for v in state["versions"]
                    if v["created_by_device_session_id"] == self.device_session_id}
                room.missing = {v for v in entitled if room.versions.get(v) not in room.keys}
                room.gone, room.synced, room.stale = False, True, False
                known = set(room.versions.values())
                room.not_versions |= noticed - known
                room.noticed -= noticed
                # A package that did not open closed the request on the server: ask again.
                room.requested -= {p["key_version"] for p in mine["packages"]}
                to_request = room.missing - room.requested
                changed = added or before != (room.current_version, room.missing)
                seal_here = {v: room.keys[room.versions[v]] for v in held_but_missing}
            if added:
                self._save_cache()
            self._save_pins()
            for version, room_key in seal_here.items():
                self._share(room_id, version, room_key, [(self.device_session_id, device.public_key)])
            if to_request:
                self._request(room_id)
            if changed or noticed:
                self._notify(room_id)
            if added:
                self._keys_changed()
            return self.status(room_id)

    def _open_packages(self, room_id: int, packages: list[dict], device: DeviceKeys) -> bool:
        """Take the keys of the packages this device does not hold yet; True if any was new."""
        added = False
        for package in packages:
            with self._lock:
                if package["key_id"] in self._room(room_id).keys:
                    continue
            sender = {"device_session_id": package["sender_device_session_id"], "user_id": package.get("sender_user_id"),
                      "encryption_key": package.get("sender_encryption_key"),
                      "signing_key": package.get("sender_signing_key"),
                      "identity_key": package.get("sender_identity_key"),
                      "identity_signature": package.get("sender_identity_signature")}
            trusted = self._trusted(sender)
            try:
                payload = json.loads(open_sealed(package["sealed"], device.exchange,
                                                 sender_public_key=package["sender_signing_key"]))
                room_key = payload["room_key"]
                if (payload["room_id"], payload["key_version"]) != (room_id, package["key_version"]):
                    raise ValueError("sealed for another room or version")
                if room_key_id(room_key) != package["key_id"]:
                    raise ValueError("the key does not match its key id")
            except (EnvelopeError, ValueError, KeyError, TypeError) as exc:
                # One broken or forged package must not block the others (another sender's
                # package of the same version may open).
                log.warning("e2e: room %s: a package of version %s is refused (%s)", room_id,
                            package.get("key_version"), getattr(exc, "code", type(exc).__name__))
                continue
            # An old system's key (released from the import's escrow device, which has no identity)
            # opens only v1/v2 history, which that system's server could read and write anyway, and
            # is never written under: it is taken from any device. Every other key only from trusted ones.
            if not trusted and not room_key.startswith(LEGACY_KEY_PREFIX):
                log.info("e2e: room %s: a package of an unverified or changed device is ignored", room_id)
                continue
            with self._lock:
                added = self._room(room_id).hold(room_key) or added
        return added

    def _request(self, room_id: int) -> None:
        with self._lock:
            missing = set(self._room(room_id).missing)
        if not missing:
            return
        try:
            self.directory.request(room_id, missing)
        except ServerRefused as exc:
            log.info("e2e: room %s: asking for keys was refused (%s)", room_id, exc.code)
            return
        with self._lock:
            self._room(room_id).requested |= missing

    def _share(self, room_id: int, key_version: int, room_key: str, targets: list[tuple[int, str]]) -> bool:
        """Seal an existing version to these (device id, encryption key) targets; False if refused."""
        key_id = room_key_id(room_key)
        packages = [(device_id, self._seal(room_id, key_version, room_key, encryption_key))
                    for device_id, encryption_key in targets]
        try:
            self.directory.share(room_id, key_version, key_id, packages)
        except ServerRefused as exc:
            log.info("e2e: room %s: sharing version %s was refused (%s)", room_id, key_version, exc.code)
            return False
        return True

    def sync_all(self) -> None:
        """Bring every room of the user up to date, and answer the key requests that are open."""
        for room in self.api.rooms():
            try:
                self.sync_room(room["id"])
                for request in self.directory.open_requests(room["id"]):
                    self._consider_request(room["id"], request)
            except ServerRefused as exc:
                log.info("e2e: room %s: cannot bring its keys up to date (%s)", room["id"], exc.code)

    def _queue_sync(self, room_id: int) -> None:
        with self._lock:
            if room_id in self._syncs_queued or self._closed:
                return
            self._syncs_queued.add(room_id)
        self._submit(self._background_sync, room_id)

    def _background_sync(self, room_id: int) -> None:
        with self._lock:
            self._syncs_queued.discard(room_id)
        try:
            self.sync_room(room_id)
        except Exception as exc:  # a worker thread: nobody else would see it
            log.warning("e2e: room %s: key sync failed (%s)", room_id, exc)

    # -- sending -------------------------------------------------------------------------------

    def encrypt(self, room_id: int, plaintext: str, timeout: float = 20.0) -> str:
        """A v3 envelope of `plaintext` under the room's current key, making (and sealing to
        every member device) a new version first when the room needs one. Raises E2EError
        (E2E_ROOM_KEY_UNAVAILABLE after `timeout`, ROOM_NOT_FOUND), ServerRefused, ServerUnreachable."""
        envelope = encrypt_envelope(plaintext, self._sending_key(room_id, timeout), "v3")
        with self._lock:
            sending = self._room(room_id).sending
            if sending is not None:
                sending["count"] += 1
        self._save_cache()  # the count must survive a restart
        return envelope

    def _sending_key(self, room_id: int, timeout: float) -> str:
        if not self.verified:
            # Nobody would take its keys; it must not make versions that others then refuse.
            raise E2EError("E2E_DEVICE_UNVERIFIED")
        deadline = time.monotonic() + timeout
        wait_for_current = CURRENT_KEY_WAIT_SECONDS
        # Asked every time, not taken from events: the event of a removal this very client
        # just made may not have arrived yet, and a stale "no rotation needed" would give
        # the removed member the next message.
        self._read_key_state(room_id)
        while True:
            with self._room_lock(room_id):
                with self._lock:
                    room = self._room(room_id)
                    fresh = room.synced and not room.stale
                if not fresh:
                    self.sync_room(room_id)
                with self._lock:
                    room = self._room(room_id)
                    if room.gone:
                        raise E2EError("ROOM_NOT_FOUND")
                    current_id = room.versions.get(room.current_version, "")
                    current = room.keys.get(current_id)
                    next_version = room.current_version + 1
                    lacks_current = not room.rotation_required and room.current_version > 0
                if current is not None and not room.rotation_required:
                    devices = self._sealable_devices(room_id)
                    reason = self._rotation_reason(room_id, current_id, devices)
                    if reason is None:
                        return current
                    log.info("e2e: room %s: rotating the key by itself (%s)", room_id, reason)
                    lacks_current = False
                if not lacks_current or wait_for_current <= 0:
                    made = self._make_version(room_id, next_version)
                    if made is not None:
                        return made
                    wait_for_current = CURRENT_KEY_WAIT_SECONDS  # lost a race: the winner's key comes
            left = deadline - time.monotonic()
            if left <= 0:
                raise E2EError("E2E_ROOM_KEY_UNAVAILABLE", f"room {room_id}: no current room key in {timeout}s")
            pause = min(KEY_POLL_SECONDS, left)
            self.wait_for_change(self._generation, pause)
            wait_for_current -= pause
            with self._lock:
                self._room(room_id).stale = True

    def _read_key_state(self, room_id: int) -> None:
        """Take the room's current version and rotation flag; the room is read in full
        (packages too) before use if that shows a version this device does not hold."""
        try:
            state = self.directory.key_state(room_id)
        except ServerRefused as exc:
            if exc.code != "ROOM_NOT_FOUND":
                raise
            with self._lock:
                self._room(room_id).stale = True  # the full read records that it is gone
            return
        with self._lock:
            room = self._room(room_id)
            room.take_versions(state["versions"])
            room.current_version = state["current_version"]
            room.rotation_required = state["rotation_required"]
            if state["current_key_id"] is not None and state["current_key_id"] not in room.keys:
                room.stale = True

    def _sealable_devices(self, room_id: int) -> list[dict]:
        """The room's member devices that keys may go to (verified, see `_trusted`), this one excepted."""
        return [d for d in self.directory.room_devices(room_id)
                if d["device_session_id"] != self.device_session_id and self._trusted(d)]

    def _rotation_reason(self, room_id: int, key_id: str, devices: list[dict]) -> str | None:
        """Why this device must not send under `key_id` (the server's current key, held here)
        even though the server does not ask for a new version; None if it may. The server's
        word is not enough: it could keep a room on a key a departed member or a revoked device
        holds, or list an older version as current again."""
        listed = {d["device_session_id"] for d in devices}
        with self._lock:
            room = self._room(room_id)
            if key_id in room.superseded:
                return "an older version is listed as current"
            created = room.created.get(room.current_version)
            if created and time.time() - _timestamp(created) > ROTATE_AFTER_SECONDS:
                return "the key is older than a week"
            sending = room.sending
            if sending is None or sending["key_id"] != key_id:
                # First use here: it may have reached any device listed now, and no other.
                room.sending = {"key_id": key_id, "count": 0, "devices": sorted(listed)}
                return None
            if sending["count"] >= ROTATE_AFTER_MESSAGES:
                return f"{sending['count']} messages under it"
            gone = set(sending["devices"]) - listed
            if gone:
                return f"devices {sorted(gone)} that may hold it left or were revoked"
            return None

    def _make_version(self, room_id: int, version: int) -> str | None:
        """Make `version` with a fresh key sealed to every member device; the key, or None if
        another device made that version first (or the device list moved on meanwhile)."""
        room_key = new_room_key()
        key_id = room_key_id(room_key)
        devices = self._sealable_devices(room_id)
        packages = [(d["device_session_id"], self._seal(room_id, version, room_key, d["encryption_key"]))
                    for d in devices]
        # Kept before posting: had the server taken it and this device then crashed, every
        # message under it would be lost to this device. Dropped again if refused.
        with self._lock:
            self._room(room_id).hold(room_key)
        self._save_cache()
        try:
            self.directory.share(room_id, version, key_id, packages[:MAX_PACKAGES_PER_POST])
            for start in range(MAX_PACKAGES_PER_POST, len(packages), MAX_PACKAGES_PER_POST):
                self.directory.share(room_id, version, key_id, packages[start:start + MAX_PACKAGES_PER_POST])
        except ServerRefused as exc:
            with self._lock:
                room = self._room(room_id)
                if room.versions.get(version) != key_id:
                    room.drop(key_id)
                room.stale = True
            self._save_cache()
            if exc.code in RACE_CODES:
                log.info("e2e: room %s: version %s was not taken (%s); reading the room again",
                         room_id, version, exc.code)
                return None
            raise
        with self._lock:
            room = self._room(room_id)
            room.versions[version] = key_id
            room.current_version = max(room.current_version, version)
            room.rotation_required = False
            room.missing.discard(version)
            room.superseded |= {known for number, known in room.versions.items() if number < version}
            room.sending = {"key_id": key_id, "count": 0, "devices": sorted(d["device_session_id"] for d in devices)}
        log.info("e2e: room %s: made key version %s for %s devices", room_id, version, len(packages))
        self._notify(room_id)
        self._keys_changed()
        return room_key

    # -- answering other devices ------------------------------------------------------------------

    def _consider_request(self, room_id: int, request: dict) -> None:
        """Answer `request` after a random delay, if this device holds some of its versions."""
        if request.get("device_session_id") == self.device_session_id or self._closed:
            return
        delay = random.uniform(*self.answer_delay)
        timer = threading.Timer(delay, self._answer_later, args=(room_id, request["request_id"]))
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _answer_later(self, room_id: int, request_id: int) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive() and t is not threading.current_thread()}
            if self._closed:
                return
        self._submit(self._answer, room_id, request_id)

    def _answer(self, room_id: int, request_id: int) -> None:
        """Seal what is still wanted (another device may have answered meanwhile) and held."""
        try:
            request = next((r for r in self.directory.open_requests(room_id) if r["request_id"] == request_id), None)
            if request is None or not self._trusted(request):
                return
            with self._lock:
                fresh = self._room(room_id).synced
            if not fresh:
                self.sync_room(room_id)
            with self._lock:
                room = self._room(room_id)
                held = {v: room.keys[room.versions[v]] for v in request["versions"]
                        if room.versions.get(v) in room.keys}
            self._save_pins()
            for version, room_key in sorted(held.items()):
                self._share(room_id, version, room_key, [(request["device_session_id"], request["encryption_key"])])
            if held:
                log.info("e2e: room %s: answered device %s with versions %s", room_id,
                         request["device_session_id"], sorted(held))
        except Exception as exc:  # a worker thread
            log.warning("e2e: room %s: answering a key request failed (%s)", room_id, exc)

    # -- the live connection ------------------------------------------------------------------------

    def attach(self, realtime, *, catch_up: bool = True) -> None:
        """Follow the key events of `realtime` (a Realtime, before its start). With `catch_up`,
        every (re)connection also brings every room up to date and answers open requests."""
        realtime.on("room_key_available", self._on_key_available)
        realtime.on("room_key_created", self._on_room_changed)
        realtime.on("room_key_policy_updated", self._on_room_changed)
        realtime.on("room_members_updated", self._on_room_changed)
        realtime.on("room_key_requested", self._on_key_requested)
        realtime.on("key_backup_updated", self._on_backup_updated)
        realtime.on("device_signed", self._on_device_signed)
        if catch_up:
            realtime.on_state(self._on_connection)

    def _on_key_available(self, data: dict) -> None:
        if self.device_session_id in data.get("device_session_ids", ()):
            self._queue_sync(data["room_id"])

    def _on_room_changed(self, data: dict) -> None:
        room_id = data["room_id"]
        with self._lock:
            room = self._room(room_id)
            room.stale = True
            known = room.synced
        if known:
            self._queue_sync(room_id)

    def _on_key_requested(self, data: dict) -> None:
        self._consider_request(data["room_id"], data)

    def _on_device_signed(self, data: dict) -> None:
        self._submit(self._after_device_signed, data.get("device_session_id"))

    def _after_device_signed(self, device_id: int | None) -> None:
        """This device approved: ask again for everything (earlier requests went unanswered).
        Another device approved: answer what it asked for."""
        try:
            if device_id == self.device_session_id and not self.verified and self.refresh_verified():
                with self._lock:
                    for room in self._rooms.values():
                        room.requested.clear()
                log.info("e2e: this device was approved")
            self.sync_all()
        except Exception as exc:  # a worker thread
            log.warning("e2e: catching up after a device approval failed (%s)", exc)

    def _on_backup_updated(self, data: dict) -> None:
        if data.get("device_session_id") != self.device_session_id:
            self._keys_changed()

    def _on_connection(self, state, reason) -> None:
        if state is ConnectionState.CONNECTED:
            self._submit(self._background_sync_all)

    def _background_sync_all(self) -> None:
        try:
            self.sync_all()
        except Exception as exc:
            log.warning("e2e: catching up on keys failed (%s)", exc)

    # -- key backup -----------------------------------------------------------------------------

    def remember_backup_passphrase(self, passphrase: str | None) -> None:
        """Keep the backup passphrase in memory (never on disk): key changes are then merged
        into the user's key backup by themselves. None stops that."""
        self._backup_passphrase = passphrase

    def _keys_changed(self) -> None:
        if self._backup_passphrase is None or self._closed:
            return
        with self._lock:
            if self._backup_timer is not None:
                self._backup_timer.cancel()
            self._backup_timer = threading.Timer(BACKUP_DEBOUNCE_SECONDS, self._submit,
                                                 args=(self._background_backup,))
            self._backup_timer.daemon = True
            self._backup_timer.start()

    def _background_backup(self) -> None:
        passphrase = self._backup_passphrase
        if passphrase is None:
            return
        try:
            self.write_backup(passphrase)
        except Exception as exc:
            log.warning("e2e: the key backup could not be written (%s)", getattr(exc, "code", exc))

    def write_backup(self, passphrase: str, *, start_over: bool = False) -> int:
        """Merge every room key held here with the user's key backup and store it encrypted
        under `passphrase`; returns the backup's version (unchanged if it held everything).

        `passphrase` is the user's recovery key (the default in the apps: 160 random bits) or a
        passphrase of at least MIN_PASSPHRASE_CHARS characters (else E2EError
        E2E_BACKUP_PASSPHRASE_WEAK, before anything is sent). A recovery-key backup binds the
        user id and its version into its associated data, so the server can neither hand one
        user's backup to another nor pass an older backup off as the current one.

        Another device writing at the same moment costs a reload, merge and retry. Raises
        E2EError E2E_BACKUP_PASSPHRASE_WRONG if the stored backup does not open with the
        passphrase: `start_over` then replaces it with the keys of this device only (for a
        forgotten passphrase: the old backup cannot be opened by anyone anyway).
        """
        if not is_recovery_key(passphrase) and len(passphrase) < MIN_PASSPHRASE_CHARS:
            raise E2EError("E2E_BACKUP_PASSPHRASE_WEAK", f"at least {MIN_PASSPHRASE_CHARS} characters")
        for _ in range(BACKUP_WRITE_ATTEMPTS):
            stored = self.directory.backup()
            version = stored["version"] if stored else 0
            if stored and not start_over:
                backed_up = self._open_backup(stored, passphrase)
                self._take_keys(backed_up)
                with self._lock:
                    complete = all(set(room.keys.values()) <= set(backed_up.get(room_id, ()))
                                   for room_id, room in self._rooms.items())
                if complete:
                    return version
            with self._lock:
                payload = _keys_payload({room_id: room.keys.values() for room_id, room in self._rooms.items()})
            if is_recovery_key(passphrase):
                blob = seal_with_recovery_key(payload, passphrase, f"{BACKUP_PURPOSE}:{version + 1}", self.user_id)
            else:
                blob = encrypt_key_backup(payload, passphrase, self.backup_cost)
            try:
                return self.directory.store_backup(blob, version + 1)["version"]
            except ServerRefused as exc:
                if exc.code != "KEY_BACKUP_VERSION_CONFLICT":
                    raise
                log.info("e2e: another device wrote the key backup first; merging again")
        raise E2EError("KEY_BACKUP_VERSION_CONFLICT", f"gave up after {BACKUP_WRITE_ATTEMPTS} attempts")

    def restore_backup(self, passphrase: str) -> int:
        """Take the keys of the user's key backup; returns how many were new here. The rooms
        that gained keys are read again, which seals the restored versions to this device
        (so the server stops counting them as missing, and other devices stop answering)."""
        stored = self.directory.backup()
        if stored is None:
            raise E2EError("KEY_BACKUP_NOT_FOUND")
        gained = self._take_keys(self._open_backup(stored, passphrase))
        for room_id in gained:
            try:
                self.sync_room(room_id)
            except ServerRefused as exc:
                log.info("e2e: room %s: restored keys not registered (%s)", room_id, exc.code)
        return sum(gained.values())

    def _open_backup(self, stored: dict, passphrase: str) -> dict[int, list[str]]:
        """The room keys of the stored backup (`r1:` under the recovery key, `b1:` under a passphrase)."""
        blob = stored["blob"]
        try:
            if blob.startswith("r1:"):
                if not is_recovery_key(passphrase):
                    raise AuthenticationFailed("this backup opens with the recovery key")
                payload = open_with_recovery_key(blob, passphrase, f"{BACKUP_PURPOSE}:{stored['version']}",
                                                 self.user_id)
            else:
                payload = decrypt_key_backup(blob, passphrase)
            return _read_keys_payload(payload)
        except AuthenticationFailed:
            raise E2EError("E2E_BACKUP_PASSPHRASE_WRONG") from None

    def _take_keys(self, rooms: dict[int, list[str]]) -> dict[int, int]:
        """Hold these keys; returns how many were new, per room."""
        gained: dict[int, int] = {}
        with self._lock:
            for room_id, keys in rooms.items():
                room = self._room(room_id)
                count = sum(room.hold(key) for key in keys)
                if count:
                    gained[room_id] = count
                    room.stale = True
        if gained:
            self._save_cache()
            for room_id in gained:
                self._notify(room_id)
        return gained

    # -- life cycle -------------------------------------------------------------------------------

    def _submit(self, work: Callable, *args) -> None:
        """Run `work(*args)` on a worker thread, unless closed."""
        try:
            if not self._closed:
                self._workers.submit(work, *args)
        except RuntimeError:  # closed meanwhile
            pass

    def close(self) -> None:
        """Stop answering and syncing (work in progress finishes first)."""
        with self._lock:
            self._closed = True
            timers = list(self._timers)
            if self._backup_timer is not None:
                timers.append(self._backup_timer)
        for timer in timers:
            timer.cancel()
        self._workers.shutdown(wait=True, cancel_futures=True)
        self._legacy_worker.shutdown(wait=True, cancel_futures=True)
