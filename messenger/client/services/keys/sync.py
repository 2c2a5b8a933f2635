"""Key sync: reading the server's key state, opening packages, making and sealing versions,
answering other devices, and following the live connection (part of E2EKeys).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time

from messenger.client.services.api import ServerRefused
from messenger.client.services.realtime import ConnectionState
from messenger.client.services.keys.records import (
    CURRENT_KEY_WAIT_SECONDS,
    KEY_POLL_SECONDS,
    MAX_PACKAGES_PER_POST,
    RACE_CODES,
    ROTATE_AFTER_MESSAGES,
    ROTATE_AFTER_SECONDS,
    E2EError,
    RoomKeyStatus,
    timestamp,
)
from messenger.core.e2e import (
    DeviceKeys,
    EnvelopeError,
    LEGACY_KEY_PREFIX,
    new_room_key,
    open_sealed,
    room_key_id,
)

log = logging.getLogger(__name__)


class KeySync:
    """E2EKeys' talk with the key directory; its state is made in E2EKeys.__init__."""

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
            self._vouched_for(room_id, self.user_id)  # meet the room's members (once) before anything changes
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
            self._take_vouches(room_id, sender["user_id"], payload.get("members"))
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
        """The room's member devices that keys may go to (verified, see `_trusted`, of members this
        device vouches for, see `RoomMembers`), this one excepted."""
        listed = [d for d in self.directory.room_devices(room_id) if d["device_session_id"] != self.device_session_id]
        return [d for d in self._vouched_devices(room_id, listed) if self._trusted(d)]

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
            if room.vouch_pending:
                return "members were added from this device"
            created = room.created.get(room.current_version)
            if created and time.time() - timestamp(created) > ROTATE_AFTER_SECONDS:
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
            room.vouch_pending = False
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
            if request is None or not self._trusted(request) or not self._vouched_for(room_id, request.get("user_id")):
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
            if device_id == self.device_session_id:
                # Read again even when approved before: after a new identity (reset_identity) the
                # signature that v5 envelopes carry must be the new one.
                approved_before = self.verified
                if self.refresh_verified() and not approved_before:
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

