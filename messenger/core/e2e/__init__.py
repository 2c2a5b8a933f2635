"""End-to-end encryption: room message envelopes, device keys, sealed packages, backups, files.

Pure functions over bytes and strings (no I/O); the formats are specified in spec/e2e.md.
"""

from messenger.core.e2e.envelopes import (
    FORMATS,
    LEGACY_KEY_PREFIX,
    AuthenticationFailed,
    EnvelopeError,
    EnvelopeTampered,
    MalformedEnvelope,
    RoomKeyring,
    UnverifiedSender,
    WrongRoomKey,
    decrypt_envelope,
    encrypt_envelope,
    legacy_room_key,
    new_room_key,
    room_key_id,
)
from messenger.core.e2e.keys import (
    BackupCost,
    DeviceKeys,
    decrypt_file,
    decrypt_image,
    decrypt_key_backup,
    encrypt_file,
    encrypt_key_backup,
    load_public_key,
    load_signing_public_key,
    open_sealed,
    seal_to_device,
)

__all__ = [
    "FORMATS",
    "LEGACY_KEY_PREFIX",
    "AuthenticationFailed",
    "BackupCost",
    "DeviceKeys",
    "EnvelopeError",
    "EnvelopeTampered",
    "MalformedEnvelope",
    "RoomKeyring",
    "UnverifiedSender",
    "WrongRoomKey",
    "decrypt_envelope",
    "decrypt_file",
    "decrypt_image",
    "decrypt_key_backup",
    "encrypt_envelope",
    "encrypt_file",
    "encrypt_key_backup",
    "legacy_room_key",
    "load_public_key",
    "load_signing_public_key",
    "new_room_key",
    "open_sealed",
    "room_key_id",
    "seal_to_device",
]
