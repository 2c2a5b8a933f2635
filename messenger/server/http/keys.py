"""End-to-end keys over REST (spec/e2e-keys.md): device public keys, room key versions and
sealed packages, key requests, the key backup.

What a device does for itself (publish its keys, seal keys, read what was sealed to it, ask
for keys) needs a device token; reading public keys, a room's key state and the backup works
for any signed-in caller. Rooms are reached through `access_room` only.
"""

from __future__ import annotations

from typing import Any

import base64
import binascii

from flask import Blueprint, g

from messenger.server.access import access_room, access_room_as_admin
from messenger.server.actions import keys
from messenger.server.auth import client_address, login_required, user_agent
from messenger.server.db.models import DeviceKey, DeviceSession
from messenger.server.errors import ApiError
from messenger.server.params import invalid, json_body, take, take_id_list, take_text

bp = Blueprint("keys", __name__)


def calling_device_keys() -> tuple[DeviceSession, DeviceKey]:
    """The calling device and its public keys; a device must publish them before it takes part."""
    device = g.device_session
    published = keys.published_keys(device.id)
    if published is None:
        raise ApiError("DEVICE_KEYS_NOT_PUBLISHED")
    return device, published


def take_public_key(data: dict[str, Any], name: str, size: int = keys.PUBLIC_KEY_BYTES) -> str:
    """A `size`-byte public key (or signature) in standard base64, handed back in canonical form."""
    value = take_text(data, name, 1, 4 * ((size + 2) // 3))
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(name, "must be standard base64") from None
    if len(raw) != size:
        raise invalid(name, f"must decode to {size} bytes")
    return base64.b64encode(raw).decode()


def take_packages(data: dict[str, Any]) -> list[tuple[int, str]]:
    """`packages: [{device_session_id, sealed}]`, at most one per device."""
    items = take(data, "packages", list)
    if len(items) > keys.MAX_PACKAGES_PER_POST:
        raise invalid("packages", f"at most {keys.MAX_PACKAGES_PER_POST} per request")
    packages = []
    for index, item in enumerate(items):
        where = f"packages[{index}]"
        if not isinstance(item, dict):
            raise invalid(where, "must be an object")
        device_id, sealed = item.get("device_session_id"), item.get("sealed")
        if isinstance(device_id, bool) or not isinstance(device_id, int):
            raise invalid(f"{where}.device_session_id", "must be an integer")
        if not isinstance(sealed, str) or not sealed:
            raise invalid(f"{where}.sealed", "must be a non-empty string")
        if len(sealed) > keys.MAX_SEALED_CHARS:
            raise ApiError("ROOM_KEY_PACKAGE_TOO_LARGE",
                           detail=f"{where}.sealed: at most {keys.MAX_SEALED_CHARS} characters")
        packages.append((device_id, sealed))
    if len({device_id for device_id, _ in packages}) != len(packages):
        raise invalid("packages", "one package per device")
    return packages


# --- device keys ---------------------------------------------------------------------------

@bp.put("/api/keys/device")
@login_required
def publish_device_keys() -> dict[str, Any] | tuple[dict[str, Any], int]:
    """Publish the calling device's public keys, once. The same keys again answer 200; other
    keys are refused: a device that needs new keys signs in again and is a new device."""
    data = json_body()
    encryption_key, signing_key = take_public_key(data, "encryption_key"), take_public_key(data, "signing_key")
    if encryption_key == signing_key:
        raise invalid("signing_key", "must differ from encryption_key")
    device = g.device_session
    published = keys.published_keys(device.id)
    if published is not None:
        if (published.encryption_key, published.signing_key) != (encryption_key, signing_key):
            raise ApiError("DEVICE_KEYS_ALREADY_PUBLISHED")
        return {"device": keys.device_keys_payload(published, device), "created": False}
    published = keys.do_publish_device_keys(g.user, device, encryption_key, signing_key, client_address(),
                                            user_agent())
    return {"device": keys.device_keys_payload(published, device), "created": True}, 201


@bp.get("/api/keys/users/<int:user_id>")
@login_required
def user_device_keys(user_id: int) -> dict[str, Any]:
    """The identity key and the live devices' public keys of the caller or of someone they share
    a room with."""
    if user_id != g.user.id and not keys.shares_a_room(g.user.id, user_id):
        raise ApiError("USER_NOT_FOUND")
    return {"user_id": user_id, "identity_key": keys.identity_public_key(user_id),
            "devices": keys.live_devices_of([user_id])}


# --- identities (cross-signing) ------------------------------------------------------------

@bp.get("/api/keys/identity")
@login_required
def get_identity() -> dict[str, Any]:
    """The caller's identity public key and recovery blob (404 IDENTITY_KEY_NOT_FOUND if none)."""
    identity = keys.identity_key(g.user.id)
    if identity is None:
        raise ApiError("IDENTITY_KEY_NOT_FOUND")
    return keys.identity_payload(identity, with_recovery_blob=True)


@bp.put("/api/keys/identity")
@login_required
def publish_identity() -> dict[str, Any] | tuple[dict[str, Any], int]:
    """Publish the caller's identity public key, once; the same key again answers 200 (and may
    set the recovery blob). Another key needs `replace: true` (every device and the recovery key
    lost): it voids the old identity's signatures, and everyone's client warns about it."""
    data = json_body()
    public_key = take_public_key(data, "identity_key")
    recovery_blob = data.get("recovery_blob")
    if recovery_blob is not None:
        recovery_blob = take_text(data, "recovery_blob", 1, keys.MAX_RECOVERY_BLOB_CHARS)
    replace = data.get("replace", False)
    if not isinstance(replace, bool):
        raise invalid("replace", "must be true or false")
    device, _ = calling_device_keys()
    identity = keys.identity_key(g.user.id)
    if identity is not None and identity.public_key != public_key and not replace:
        raise ApiError("IDENTITY_KEY_ALREADY_PUBLISHED")
    if identity is not None and identity.public_key == public_key:
        if recovery_blob is None or recovery_blob == identity.recovery_blob:
            return {"identity": keys.identity_payload(identity, with_recovery_blob=False), "created": False}
    created = identity is None
    identity = keys.do_publish_identity(g.user, device, public_key, recovery_blob, client_address(), user_agent())
    return {"identity": keys.identity_payload(identity, with_recovery_blob=False), "created": created}, (
        201 if created else 200)


@bp.put("/api/keys/devices/<int:device_session_id>/signature")
@login_required
def sign_device(device_session_id: int) -> dict[str, Any]:
    """Store the identity's signature of one of the caller's own devices (opaque: the server
    cannot check it means anything; clients do)."""
    signature = take_public_key(json_body(), "signature", keys.SIGNATURE_BYTES)
    signer, _ = calling_device_keys()
    target = keys.published_keys(device_session_id)
    if target is None or target.user_id != g.user.id:
        raise ApiError("DEVICE_SESSION_NOT_FOUND")
    return {"device": keys.do_sign_device(g.user, signer, target, signature, client_address(), user_agent())}


@bp.get("/api/rooms/<int:room_id>/devices")
@login_required
def room_devices(room_id: int) -> dict[str, Any]:
    """Any member may list them: public keys and identity signatures only, which each desk checks
    against the identities it pinned before it seals a key to one (spec/e2e.md §4a)."""
    room, _ = access_room(g.user, room_id)
    return {"room_id": room.id, "devices": keys.room_devices(room.id)}


# --- room keys -----------------------------------------------------------------------------

@bp.get("/api/rooms/<int:room_id>/keys/state")
@login_required
def room_key_state(room_id: int) -> dict[str, Any]:
    room, _ = access_room(g.user, room_id)
    return keys.key_state(room)


@bp.put("/api/rooms/<int:room_id>/keys/policy")
@login_required
def set_room_key_policy(room_id: int) -> dict[str, Any]:
    """Room admins decide whether new members get the keys of earlier versions."""
    room, _ = access_room_as_admin(g.user, room_id)
    visible = take(json_body(), "history_visible_to_new_members", bool)
    changed = keys.room_key_state(room.id).history_visible_to_new_members != visible
    if changed:
        keys.do_set_history_visibility(room, visible)
    return {"room_id": room.id, "history_visible_to_new_members": visible, "changed": changed}


@bp.get("/api/rooms/<int:room_id>/keys/mine")
@login_required
def my_room_keys(room_id: int) -> dict[str, Any]:
    _, membership = access_room(g.user, room_id)
    return keys.my_room_keys(membership, g.device_session)


@bp.post("/api/rooms/<int:room_id>/keys")
@login_required
def share_room_key(room_id: int) -> dict[str, Any] | tuple[dict[str, Any], int]:
    """Post sealed packages of one key version: the next version (a new room key, 201) or an
    existing one for devices that lack it (200)."""
    data = json_body()
    key_version = take(data, "key_version", int)
    if key_version < 1:
        raise invalid("key_version", "must be 1 or more")
    key_id = take_text(data, "key_id", 16, 16, pattern=keys.KEY_ID_PATTERN)
    packages = take_packages(data)
    room, membership = access_room(g.user, room_id)
    device, _ = calling_device_keys()
    existing, targets = keys.check_room_key_share(room, membership, key_version, key_id,
                                                  [device_id for device_id, _ in packages])
    key, stored = keys.do_share_room_key(room, g.user, device, key_version, key_id, existing, packages, targets)
    return {"room_id": room.id, **keys.key_version_payload(key), "created": existing is None,
            "stored": stored}, 201 if existing is None else 200


# --- key requests --------------------------------------------------------------------------

@bp.get("/api/rooms/<int:room_id>/keys/requests")
@login_required
def list_key_requests(room_id: int) -> dict[str, Any]:
    room, _ = access_room(g.user, room_id)
    return {"room_id": room.id, "requests": keys.open_requests(room.id)}


@bp.post("/api/rooms/<int:room_id>/keys/requests")
@login_required
def request_room_keys(room_id: int) -> tuple[dict[str, Any], int]:
    """Ask the room's devices for key versions this device lacks."""
    versions = take_id_list(json_body(), "versions", keys.MAX_REQUESTED_VERSIONS)
    if not versions:
        raise invalid("versions", "must not be empty")
    room, membership = access_room(g.user, room_id)
    device, published = calling_device_keys()
    keys.check_requested_versions(membership, versions)
    return {"request": keys.do_request_room_keys(room, device, published, versions)}, 201


# --- key backup ----------------------------------------------------------------------------

@bp.get("/api/keys/backup")
@login_required
def get_key_backup() -> dict[str, Any]:
    """The caller's key backup: its version, when and from which device it was written, and the
    sealed blob that only the passphrase or the recovery key opens (404 KEY_BACKUP_NOT_FOUND if none)."""
    backup = keys.key_backup(g.user.id)
    if backup is None:
        raise ApiError("KEY_BACKUP_NOT_FOUND")
    return keys.key_backup_payload(backup)


@bp.put("/api/keys/backup")
@login_required
def put_key_backup() -> dict[str, Any]:
    """Replace the caller's encrypted key backup; `version` must be the stored one + 1 (1 first)."""
    data = json_body()
    blob = take(data, "blob", str)
    if not blob:
        raise invalid("blob", "must not be empty")
    if len(blob) > keys.MAX_BACKUP_CHARS:
        raise ApiError("KEY_BACKUP_TOO_LARGE", detail=f"blob: at most {keys.MAX_BACKUP_CHARS} characters")
    version = take(data, "version", int)
    if version < 1:
        raise invalid("version", "must be 1 or more")
    backup = keys.do_store_key_backup(g.user, g.device_session, blob, version, client_address(), user_agent())
    return keys.key_backup_payload(backup, with_blob=False)
