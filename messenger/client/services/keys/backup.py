"""Key backup: the user's room keys stored on the server under the recovery key or a passphrase
(part of E2EKeys).
"""

from __future__ import annotations

import hmac
import logging
import os
import threading

from messenger.client.services.api import ServerRefused
from messenger.client.services.keys.records import (
    BACKUP_DEBOUNCE_SECONDS,
    BACKUP_PURPOSE,
    BACKUP_WRITE_ATTEMPTS,
    MIN_PASSPHRASE_CHARS,
    E2EError,
    keys_payload,
    read_keys_payload,
)
from messenger.core.e2e import AuthenticationFailed, decrypt_key_backup, encrypt_key_backup
from messenger.core.e2e.envelopes import decode_b64, encode_b64
from messenger.core.e2e.identity import (
    is_recovery_key,
    open_with_recovery_key,
    seal_with_recovery_key,
)

log = logging.getLogger(__name__)


class KeyBackup:
    """E2EKeys' key backup; its state is made in E2EKeys.__init__."""

    # -- key backup -----------------------------------------------------------------------------

    def remember_backup_passphrase(self, passphrase: str | None) -> None:
        """Keep the backup passphrase in memory (never on disk): key changes are then merged
        into the user's key backup by themselves. None stops that."""
        self._backup_passphrase = passphrase

    def remember_login_password(self, password: str) -> None:
        """Keep a salted argon2id hash of the login password just used (in the sealed key cache,
        never the password), so that a backup passphrase equal to it is refused: the server sees
        the login password at every sign-in and could open such a backup."""
        salt = os.urandom(16)
        with self._lock:
            self._login_check = (encode_b64(salt), encode_b64(self.backup_cost.derive(password, salt)))
            self._pins_unsaved = True
        if self._started.is_set():  # else start() writes it with the cache it loads
            self._save_pins()

    def _is_login_password(self, passphrase: str) -> bool:
        with self._lock:
            check = self._login_check
        if check is None:
            return False
        salt, expected = (decode_b64(part, "login password check") for part in check)
        return hmac.compare_digest(self.backup_cost.derive(passphrase, salt), expected)

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
        if not is_recovery_key(passphrase) and self._is_login_password(passphrase):
            raise E2EError("E2E_BACKUP_PASSPHRASE_IS_PASSWORD", "choose a passphrase you use nowhere else")
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
                payload = keys_payload({room_id: room.keys.values() for room_id, room in self._rooms.items()})
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
            return read_keys_payload(payload)
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

