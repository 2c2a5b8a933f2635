"""The key store: this device's own keys, its user's identity and the contacts' pins, and the
sealed local cache that keeps room keys and pins across restarts (part of E2EKeys).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

from messenger.client.services.api import ServerRefused
from messenger.client.services.session_store import normalize_server_url
from messenger.client.services.keys.records import (
    KEY_CACHE_DIR,
    RECOVERY_PURPOSE,
    E2EError,
    device_fingerprint,
    key_payload,
    keys_payload,
    read_keys_payload,
)
from messenger.core.e2e import (
    DeviceKeys,
    EnvelopeError,
    MalformedEnvelope,
    open_sealed,
    seal_to_device,
)
from messenger.core.e2e.identity import (
    IdentityKeys,
    codes_match,
    device_signed_by,
    new_recovery_key,
    open_with_recovery_key,
    safety_number,
    seal_with_recovery_key,
    verification_code,
)
from messenger.core.files import write_atomic

log = logging.getLogger(__name__)


class KeyStore:
    """E2EKeys' own keys, identities, pins and local cache; its state is made in E2EKeys.__init__."""

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
        self._started.set()
        self._save_pins()  # what came meanwhile (remember_login_password)

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
        self._own_identity_signature = mine["identity_signature"] if self.verified else None
        return self.verified

    def _signed_by_pinned(self, device: dict) -> bool:
        with self._lock:
            pinned = self._identities.get(device.get("user_id"))
        return self._signed_by(pinned, device)

    def _signed_by(self, identity_key: str | None, device: dict) -> bool:
        """Whether `identity_key` signed this device (each device's signature is checked once)."""
        check = (identity_key, device.get("identity_signature"), device.get("user_id"),
                 device.get("device_session_id"), device.get("encryption_key"), device.get("signing_key"))
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
            self._repin(self.user_id, identity.public_key)
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
            self._repin(user_id, shown)
            self._identity_changes.pop(user_id, None)
            self._pins_unsaved = True
        self._save_pins()
        self.forget_checks()  # messages refused under the old identity are read again
        return shown

    def _repin(self, user_id: int, identity_key: str) -> None:
        """Pin `identity_key` for `user_id` in place of the one pinned (under the lock). As in
        Signal, what verified when it was sent stays verified: the replaced identity is kept
        with the moment it stopped being trusted, and its devices' messages signed (by their
        sequence number, the sender's clock) before then still read as theirs."""
        replaced = self._identities.get(user_id)
        if replaced and replaced != identity_key:
            self._former_identities.setdefault(user_id, {})[replaced] = int(time.time() * 1000)
        self._former_identities.get(user_id, {}).pop(identity_key, None)  # trusted again: no end
        self._identities[user_id] = identity_key

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
        payload = key_payload(room_id, key_version, room_key, self._members_to_name(room_id))
        return seal_to_device(payload, encryption_key, sender=device.signing)

    # -- the local cache ----------------------------------------------------------------------

    def _load_cache(self) -> None:
        try:
            raw = json.loads(self._cache_path.read_text(encoding="utf-8"))
            device = self._require_device()
            payload = open_sealed(raw["sealed"], device.exchange, sender_public_key=device.signing_public_key)
            rooms = read_keys_payload(payload)
            saved = json.loads(payload)
            pins = {int(device_id): tuple(keys) for device_id, keys in saved.get("devices", {}).items()}
            # A cache written before identities existed has neither.
            identities = {int(user_id): key for user_id, key in saved.get("identities", {}).items()}
            changes = {int(user_id): key for user_id, key in saved.get("identity_changes", {}).items()}
            former = {int(user_id): {key: int(until) for key, until in keys.items()}
                      for user_id, keys in saved.get("former_identities", {}).items()}
            sending = {int(room_id): record for room_id, record in saved.get("sending", {}).items()}
            sequence = int(saved.get("sequence", 0))
            login_check = saved.get("login_check")
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, AttributeError, EnvelopeError) as exc:
            log.warning("e2e: the room key cache cannot be read (%s); starting without it", type(exc).__name__)
            return
        with self._lock:
            self._pins.update(pins)
            self._identities.update(identities)
            self._identity_changes.update(changes)
            self._former_identities.update(former)
            self._sequence = max(self._sequence, sequence)
            if self._login_check is None and login_check:
                self._login_check = tuple(login_check)
            for room_id, record in sending.items():
                room = self._room(room_id)
                room.superseded |= set(record["superseded"])
                room.sending = record["sending"]
                if record.get("vouched") is not None:
                    room.vouched = set(record["vouched"])
                room.vouch_pending = bool(record.get("vouch_pending"))
            for room_id, keys in rooms.items():
                for key in keys:
                    self._room(room_id).hold(key)

    def _save_cache(self) -> None:
        device = self._require_device()
        with self._lock:
            held = json.loads(keys_payload({room_id: room.keys.values() for room_id, room in self._rooms.items()}))
            held["devices"] = {str(device_id): list(keys) for device_id, keys in self._pins.items()}
            held["identities"] = {str(user_id): key for user_id, key in self._identities.items() if key}
            held["identity_changes"] = {str(user_id): key for user_id, key in self._identity_changes.items()}
            held["former_identities"] = {str(user_id): keys for user_id, keys in self._former_identities.items() if keys}
            held["sequence"] = self._sequence
            held["login_check"] = self._login_check
            held["sending"] = {str(room_id): {"superseded": sorted(room.superseded), "sending": room.sending,
                                              "vouched": None if room.vouched is None else sorted(room.vouched),
                                              "vouch_pending": room.vouch_pending}
                               for room_id, room in self._rooms.items()
                               if room.superseded or room.sending or room.vouched is not None}
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

