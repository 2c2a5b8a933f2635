"""This device's end-to-end keys (spec/e2e-keys.md): its own key pair, the room keys it holds,
and the talk with the server's key directory that keeps them complete. E2EKeys is one object
made of parts, one module each: the key store (store.py), key sync (sync.py), signed messages
(signing.py), the members keys go to (members.py) and the key backup (backup.py); directory.py
holds the server calls, records.py what they share.

Where the secrets live:
- The device's private keys (`DeviceKeys.export()`) are kept by the session store, exactly as the
  device token is: the OS keyring, or the protected fallback file when there is none (DPAPI on
  Windows, mode 0600 elsewhere). Their account name is `<username>#device-<id>-keys`, one entry
  per server, user and device session. Never in settings, never in a log line.
- The room keys this device holds are cached in DATA/e2e/<account>-<device>.json as ONE package
  sealed to the device's own public key and signed with its own signing key (spec/e2e.md §4).
  Without the private keys the file is opaque, and nobody can slip a key into it. No room key
  is ever written to disk in plaintext.
- A room key this device seals to another device carries `{room_id, key_version, room_key, members}`,
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
import logging
import threading
from pathlib import Path
from typing import Callable

from messenger.client.services.api import ApiClient
from messenger.client.services.session_store import SessionStore
from messenger.client.services.keys.backup import KeyBackup
from messenger.client.services.keys.directory import KeyDirectory
from messenger.client.services.keys.records import (
    BACKUP_FORMAT,
    LEGACY_CACHE_PER_ROOM,
    E2EError,
    IdentityPending,
    KeyAvailability,
    RoomKeyStatus,
    RoomState,
    device_fingerprint,
    keep_bounded,
)
from messenger.client.services.keys.members import RoomMembers
from messenger.client.services.keys.signing import MessageSigning
from messenger.client.services.keys.store import KeyStore
from messenger.client.services.keys.sync import KeySync
from messenger.core.e2e import (
    BackupCost,
    DeviceKeys,
    EnvelopeError,
    RoomKeyring,
)
from messenger.core.e2e.identity import IdentityKeys

__all__ = ["BACKUP_FORMAT", "E2EError", "E2EKeys", "IdentityPending", "KeyAvailability", "KeyDirectory",
           "RoomKeyStatus", "device_fingerprint"]

log = logging.getLogger(__name__)


class E2EKeys(KeyStore, KeySync, RoomMembers, MessageSigning, KeyBackup):
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
        # user id -> {identity once pinned here: when it stopped being (ms)}: what its devices signed
        # before then still verifies (spec/e2e.md §4a)
        self._former_identities: dict[int, dict[str, int]] = {}
        self._signed_devices: set[tuple] = set()  # signatures already checked against a pinned identity
        self.verified = False  # this device carries its user's pinned identity's signature
        self._recovery_key_to_show: str | None = None
        self._own_identity_signature: str | None = None  # this device's, once verified (v5 envelopes name it)
        self._sequence = 0  # the last sequence number this device signed a message with
        self._identity_lookups: dict[int, bool] = {}  # v5 senders' users looked up: True while pending
        self._rooms: dict[int, RoomState] = {}
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
        self._started = threading.Event()  # start() has loaded the cache: it may be written
        self._login_check: tuple[str, str] | None = None  # (salt, argon2id hash) of the login password, base64
        self._backup_timer: threading.Timer | None = None
        self._closed = False

    # -- state, listeners ---------------------------------------------------------------------

    def _room(self, room_id: int) -> RoomState:
        with self._lock:
            return self._rooms.setdefault(room_id, RoomState())

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
            keep_bounded(self._room(room_id).legacy_opened, envelope, opened, LEGACY_CACHE_PER_ROOM)
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
