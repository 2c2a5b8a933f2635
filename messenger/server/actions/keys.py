"""End-to-end keys (spec/e2e-keys.md): device public keys, room key versions, sealed packages,
key requests and key backups.

The server holds nothing it could decrypt with: public keys, the numbers and ids of room key
versions, and packages and backups that devices sealed or encrypted before sending. What it
does decide is who may receive what: a package goes only to a live device of a current member
who is entitled to that key version, and it keeps the state that tells devices when to make a
new version and which versions they are still waiting for.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Select, and_, delete, exists, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from messenger.server import serialize, settings
from messenger.server.actions.audit import record_audit
from messenger.server.actions.events import Pending, commit_and_emit
from messenger.server.db.models import (
    HISTORY_VISIBLE_BY_DEFAULT,
    DeviceKey,
    DeviceSession,
    IdentityKey,
    KeyBackup,
    Room,
    RoomKey,
    RoomKeyPackage,
    RoomKeyRequest,
    RoomKeyState,
    RoomMember,
    User,
    utcnow,
)
from messenger.server.errors import ApiError
from messenger.server.extensions import database

# Canonical events (server -> client).
DEVICE_KEYS_PUBLISHED = "device_keys_published"  # to the user's devices
IDENTITY_KEY_PUBLISHED = "identity_key_published"  # to the user's devices and everyone sharing a room
DEVICE_SIGNED = "device_signed"  # to the user's devices: one of them was approved
ROOM_KEY_CREATED = "room_key_created"  # to the room: a new current version exists
ROOM_KEY_AVAILABLE = "room_key_available"  # to a user whose devices got packages
ROOM_KEY_REQUESTED = "room_key_requested"  # to the room: a device asks for versions it lacks
ROOM_KEY_REQUEST_FULFILLED = "room_key_request_fulfilled"  # to the room: that device has them all
ROOM_KEY_POLICY_UPDATED = "room_key_policy_updated"  # to the room
KEY_BACKUP_UPDATED = "key_backup_updated"  # to the user's devices

# Limits.
PUBLIC_KEY_BYTES = 32  # X25519 and Ed25519 public keys
SIGNATURE_BYTES = 64  # an Ed25519 signature
MAX_RECOVERY_BLOB_CHARS = 4_096  # an identity private key sealed under the recovery key takes ~110
MAX_SEALED_CHARS = 4_096  # one sealed room key: far more than a sealed 32-byte key needs
MAX_PACKAGES_PER_POST = 2_000
MAX_REQUESTED_VERSIONS = 1_000
MAX_BACKUP_CHARS = 1_000_000  # fits the server's 1 MiB request limit with room to spare
KEY_ID_PATTERN = r"[0-9a-f]{16}"  # a v3 key id: a hash of the room key (spec/e2e.md section 3)


# --- device keys ---------------------------------------------------------------------------

def live_device(now: datetime) -> ColumnElement[bool]:
    """The condition for a device session that can still sign in: not revoked, not expired, and
    not a browser while the server is desktop-only (DESKTOP_ONLY_MODE=1 refuses browsers
    without revoking them: they must not be listed, sealed to or answered meanwhile)."""
    condition = and_(DeviceSession.revoked_at.is_(None), DeviceSession.expires_at > now)
    return and_(condition, DeviceSession.kind != "browser") if settings.desktop_only() else condition


def device_keys_payload(keys: DeviceKey, device: DeviceSession) -> dict[str, Any]:
    """A device's public keys, with its user's identity key and the identity's signature of
    the device as stored: the server vouches for neither, clients check the signature."""
    return {"device_session_id": keys.device_session_id, "user_id": keys.user_id,
            "device_name": device.device_name, "encryption_key": keys.encryption_key,
            "signing_key": keys.signing_key, "published_at": serialize.iso(keys.published_at),
            "identity_key": identity_public_key(keys.user_id), "identity_signature": keys.identity_signature}


def identity_key(user_id: int) -> IdentityKey | None:
    return database.session.get(IdentityKey, user_id)


def identity_public_key(user_id: int) -> str | None:
    identity = identity_key(user_id)
    return identity.public_key if identity else None


def identity_payload(identity: IdentityKey, with_recovery_blob: bool) -> dict[str, Any]:
    answer = {"user_id": identity.user_id, "identity_key": identity.public_key,
              "published_at": serialize.iso(identity.published_at)}
    if with_recovery_blob:
        answer["recovery_blob"] = identity.recovery_blob
    return answer


def do_publish_identity(user: User, device: DeviceSession, public_key: str, recovery_blob: str | None,
                        ip: str, user_agent: str) -> IdentityKey:
    """Store the user's identity public key (new, or replacing one: the route has decided which).
    A new identity voids every signature of the old one. The user's devices and everyone who
    shares a room with the user hear it: their clients compare it with the identity they pinned."""
    identity = identity_key(user.id)
    replaced = identity is not None and identity.public_key != public_key
    if identity is None:
        identity = IdentityKey(user_id=user.id)
        database.session.add(identity)
    if replaced:
        database.session.execute(update(DeviceKey).where(DeviceKey.user_id == user.id)
                                 .values(identity_signature=None).execution_options(synchronize_session="fetch"))
    identity.public_key = public_key
    if recovery_blob is not None or replaced:
        identity.recovery_blob = recovery_blob
    identity.published_at, identity.device_session_id = utcnow(), device.id
    database.session.flush()
    record_audit("identity_key_published", user.id, ip, user_agent, device_session_id=device.id, replaced=replaced)
    pending = Pending()
    payload = identity_payload(identity, with_recovery_blob=False)
    pending.add(IDENTITY_KEY_PUBLISHED, payload, user_id=user.id)
    for room_id in database.session.scalars(select(RoomMember.room_id).where(RoomMember.user_id == user.id)):
        pending.add(IDENTITY_KEY_PUBLISHED, payload, room_id=room_id)
    commit_and_emit(pending)
    return identity


def do_sign_device(user: User, signer: DeviceSession, target: DeviceKey, signature: str, ip: str,
                   user_agent: str) -> dict[str, Any]:
    """Store the identity's signature of one of the user's devices (opaque: clients check it).
    The user's devices hear `device_signed`: the approved one asks for its keys again."""
    target.identity_signature = signature
    database.session.flush()
    record_audit("device_signed", user.id, ip, user_agent, device_session_id=signer.id,
                 target_device_session_id=target.device_session_id)
    payload = device_keys_payload(target, database.session.get_one(DeviceSession, target.device_session_id))
    pending = Pending()
    pending.add(DEVICE_SIGNED, payload, user_id=user.id)
    commit_and_emit(pending)
    return payload


def published_keys(device_session_id: int) -> DeviceKey | None:
    return database.session.get(DeviceKey, device_session_id)


def live_devices_of(user_ids: Iterable[int] | Select[int]) -> list[dict[str, Any]]:
    """The public keys of every live device of these users that published keys."""
    rows = database.session.execute(
        select(DeviceKey, DeviceSession).join(DeviceSession, DeviceSession.id == DeviceKey.device_session_id)
        .where(DeviceKey.user_id.in_(user_ids), live_device(utcnow()))
        .order_by(DeviceKey.user_id, DeviceKey.device_session_id))
    return [device_keys_payload(keys, device) for keys, device in rows]


def room_devices(room_id: int) -> list[dict[str, Any]]:
    """The live, keyed devices of the room's current members: whom a new key version is sealed to."""
    return live_devices_of(select(RoomMember.user_id).where(RoomMember.room_id == room_id))


def shares_a_room(user_id: int, other_id: int) -> bool:
    mine = select(RoomMember.room_id).where(RoomMember.user_id == user_id)
    return bool(database.session.scalar(select(exists().where(RoomMember.user_id == other_id,
                                                              RoomMember.room_id.in_(mine)))))


def do_publish_device_keys(user: User, device: DeviceSession, encryption_key: str, signing_key: str,
                           ip: str, user_agent: str) -> DeviceKey:
    """Record a device's public keys (the route has checked it has none yet) and tell the
    user's other devices, which can show that a new device can now receive keys."""
    keys = DeviceKey(device_session_id=device.id, user_id=user.id, encryption_key=encryption_key,
                     signing_key=signing_key, published_at=utcnow())
    database.session.add(keys)
    database.session.flush()
    record_audit("device_keys_published", user.id, ip, user_agent, device_session_id=device.id)
    pending = Pending()
    pending.add(DEVICE_KEYS_PUBLISHED, device_keys_payload(keys, device), user_id=user.id)
    commit_and_emit(pending)
    return keys


# --- room key state ------------------------------------------------------------------------

def room_key_state(room_id: int) -> RoomKeyState:
    """The room's stored state, or the defaults (not added to the session) if it has none."""
    return database.session.get(RoomKeyState, room_id) or RoomKeyState(
        room_id=room_id, history_visible_to_new_members=HISTORY_VISIBLE_BY_DEFAULT, rotation_required=False)


def _stored_room_key_state(room_id: int) -> RoomKeyState:
    """The room's state row, made (with the defaults) if missing; staged, not committed."""
    state = database.session.get(RoomKeyState, room_id)
    if state is not None:
        return state
    try:
        with database.session.begin_nested():
            state = room_key_state(room_id)
            database.session.add(state)
    except IntegrityError:
        # Another request made the row first.
        state = database.session.get_one(RoomKeyState, room_id)
    return state


def current_key(room_id: int) -> RoomKey | None:
    return database.session.scalar(select(RoomKey).where(RoomKey.room_id == room_id)
                                   .order_by(RoomKey.version.desc()).limit(1))


def is_entitled(state: RoomKeyState, key: RoomKey, joined_at: datetime) -> bool:
    """A member may hold a version made while they were a member, or any if the room shows
    its history to new members."""
    return state.history_visible_to_new_members or key.created_at >= joined_at


def _entitled_versions(state: RoomKeyState, membership: RoomMember) -> Select[int]:
    """The query of the version numbers `membership` is entitled to (same rule as `is_entitled`)."""
    rule = true() if state.history_visible_to_new_members else RoomKey.created_at >= membership.joined_at
    return select(RoomKey.version).where(RoomKey.room_id == membership.room_id, rule)


def needs_rotation(room_id: int, state: RoomKeyState, current: RoomKey | None) -> bool:
    """Whether the next sender must make a new version first: there is none yet, someone who
    may hold the current one left, or (history hidden) someone joined after it was made."""
    if current is None or state.rotation_required:
        return True
    if state.history_visible_to_new_members:
        return False
    return bool(database.session.scalar(select(exists().where(RoomMember.room_id == room_id,
                                                              RoomMember.joined_at > current.created_at))))


def mark_rotation_required(room_id: int) -> None:
    """Staged, no commit: the room's next sender must make a new key version, because someone
    who may hold the current one is no longer a member. Call it when a member leaves or is
    removed, in that change's transaction."""
    if current_key(room_id) is None:
        return  # no key yet: the first sender makes one anyway
    _stored_room_key_state(room_id).rotation_required = True
    database.session.flush()


def key_version_payload(key: RoomKey) -> dict[str, Any]:
    return {"key_version": key.version, "key_id": key.key_id, "created_by": key.created_by,
            "created_by_device_session_id": key.created_by_device_session_id,
            "created_at": serialize.iso(key.created_at)}


def _state_summary(room_id: int, state: RoomKeyState, current: RoomKey | None) -> dict[str, Any]:
    return {"room_id": room_id, "current_version": current.version if current else 0,
            "current_key_id": current.key_id if current else None,
            "rotation_required": needs_rotation(room_id, state, current),
            "history_visible_to_new_members": state.history_visible_to_new_members}


def key_state(room: Room) -> dict[str, Any]:
    """What every member sees: the current version, whether it must rotate, the policy, and
    every version's number and id (never a key)."""
    state, current = room_key_state(room.id), current_key(room.id)
    versions = database.session.scalars(select(RoomKey).where(RoomKey.room_id == room.id).order_by(RoomKey.version))
    return {**_state_summary(room.id, state, current), "versions": [key_version_payload(k) for k in versions]}


def my_room_keys(membership: RoomMember, device: DeviceSession) -> dict[str, Any]:
    """The packages sealed to `device` in the room, and `missing_versions`: versions its user is
    entitled to that the device neither received nor made itself ("waiting for keys")."""
    room_id = membership.room_id
    state, current = room_key_state(room_id), current_key(room_id)
    sender = aliased(DeviceKey)
    rows = database.session.execute(
        select(RoomKeyPackage, RoomKey.key_id, sender)
        .join(RoomKey, and_(RoomKey.room_id == RoomKeyPackage.room_id, RoomKey.version == RoomKeyPackage.key_version))
        .outerjoin(sender, sender.device_session_id == RoomKeyPackage.sender_device_session_id)
        .where(RoomKeyPackage.room_id == room_id, RoomKeyPackage.device_session_id == device.id)
        .order_by(RoomKeyPackage.key_version, RoomKeyPackage.id)).all()
    made_here = set(database.session.scalars(select(RoomKey.version).where(
        RoomKey.room_id == room_id, RoomKey.created_by_device_session_id == device.id)))
    held = {package.key_version for package, *_ in rows} | made_here
    entitled = set(database.session.scalars(_entitled_versions(state, membership)))
    return {
        **_state_summary(room_id, state, current),
        "packages": [{"key_version": package.key_version, "key_id": key_id, "sealed": package.sealed,
                      "sender_device_session_id": package.sender_device_session_id,
                      "sender_user_id": sender_keys.user_id if sender_keys else None,
                      "sender_encryption_key": sender_keys.encryption_key if sender_keys else None,
                      "sender_signing_key": sender_keys.signing_key if sender_keys else None,
                      "sender_identity_key": identity_public_key(sender_keys.user_id) if sender_keys else None,
                      "sender_identity_signature": sender_keys.identity_signature if sender_keys else None,
                      "created_at": serialize.iso(package.created_at)}
                     for package, key_id, sender_keys in rows],
        "missing_versions": sorted(entitled - held),
    }


def do_set_history_visibility(room: Room, visible: bool) -> None:
    """Set whether new members may get the keys of versions made before they joined (the route
    has checked it changes). Turning it off makes the next sender rotate if anyone joined since
    the current version was made, so the newcomer cannot read what came before."""
    _stored_room_key_state(room.id).history_visible_to_new_members = visible
    pending = Pending()
    pending.add(ROOM_KEY_POLICY_UPDATED, {"room_id": room.id, "history_visible_to_new_members": visible},
                room_id=room.id)
    commit_and_emit(pending)


# --- sealed packages -----------------------------------------------------------------------

def check_room_key_share(room: Room, sender: RoomMember, key_version: int, key_id: str,
                         target_device_ids: list[int]) -> tuple[RoomKey | None, dict[int, int]]:
    """Check a post of packages before anything is stored.

    `key_version` must be the next version (a new key, `key_id` not used before in the room)
    or an existing one with its own `key_id` (sharing it with devices that lack it); for an
    existing version the sender and every target's user must be entitled to it. Every target
    must be a live device, with published keys, of a current member.

    Returns the existing version (None for a new one) and each target device's user id.
    """
    current = current_key(room.id)
    next_version = (current.version if current else 0) + 1
    existing = None
    if key_version == next_version:
        if database.session.scalar(select(exists().where(RoomKey.room_id == room.id, RoomKey.key_id == key_id))):
            raise ApiError("ROOM_KEY_VERSION_CONFLICT", detail=f"key_id {key_id} is already a version of this room")
    elif 1 <= key_version < next_version:
        existing = database.session.scalars(select(RoomKey).where(RoomKey.room_id == room.id,
                                                                  RoomKey.version == key_version)).one()
        if existing.key_id != key_id:
            raise ApiError("ROOM_KEY_VERSION_CONFLICT", detail=f"version {key_version} has another key_id")
    else:
        raise ApiError("ROOM_KEY_VERSION_CONFLICT",
                       detail=f"key_version must be {next_version} (new) or an existing version")

    members = dict(database.session.execute(
        select(RoomMember.user_id, RoomMember.joined_at).where(RoomMember.room_id == room.id)).all())
    targets = dict(database.session.execute(
        select(DeviceKey.device_session_id, DeviceKey.user_id)
        .join(DeviceSession, DeviceSession.id == DeviceKey.device_session_id)
        .where(DeviceKey.device_session_id.in_(target_device_ids), live_device(utcnow()))).all())
    refused = [d for d in target_device_ids if targets.get(d) not in members]
    if refused:
        raise ApiError("ROOM_KEY_TARGET_INVALID",
                       detail=f"device sessions {refused} are not live, keyed devices of this room's members")
    if existing is not None:
        state = room_key_state(room.id)
        if not is_entitled(state, existing, sender.joined_at):
            raise ApiError("ROOM_KEY_NOT_ENTITLED", detail=f"you are not entitled to version {key_version}")
        refused = [d for d, user_id in targets.items() if not is_entitled(state, existing, members[user_id])]
        if refused:
            raise ApiError("ROOM_KEY_NOT_ENTITLED",
                           detail=f"device sessions {refused} are not entitled to version {key_version}")
    return existing, targets


def do_share_room_key(room: Room, sender: User, sender_device: DeviceSession, key_version: int, key_id: str,
                      existing: RoomKey | None, packages: list[tuple[int, str]], targets: dict[int, int]
                      ) -> tuple[RoomKey, int]:
    """Store packages checked by `check_room_key_share`, making the version first if it is new.

    A new version becomes the room's current one and clears `rotation_required`; the room hears
    `room_key_created`. Each target user hears `room_key_available` (naming their devices), open
    requests shrink by this version, and a request with nothing left is fulfilled. A sender
    posting again to the same device replaces its own earlier package. Returns the version and
    how many packages were stored.
    """
    pending = Pending()
    now = utcnow()
    key = existing
    if key is None:
        key = RoomKey(room_id=room.id, version=key_version, key_id=key_id, created_by=sender.id,
                      created_by_device_session_id=sender_device.id, created_at=now)
        try:
            with database.session.begin_nested():
                database.session.add(key)
        except IntegrityError:
            # Another device made this version at the same moment: this one must start over.
            database.session.rollback()
            raise ApiError("ROOM_KEY_VERSION_CONFLICT", detail=f"version {key_version} was just made") from None
        _stored_room_key_state(room.id).rotation_required = False
        pending.add(ROOM_KEY_CREATED, {"room_id": room.id, **key_version_payload(key)}, room_id=room.id)

    earlier = {row.device_session_id: row for row in database.session.scalars(select(RoomKeyPackage).where(
        RoomKeyPackage.room_id == room.id, RoomKeyPackage.key_version == key.version,
        RoomKeyPackage.sender_device_session_id == sender_device.id,
        RoomKeyPackage.device_session_id.in_(targets)))}
    for device_id, sealed in packages:
        row = earlier.get(device_id)
        if row is None:
            database.session.add(RoomKeyPackage(room_id=room.id, key_version=key.version, device_session_id=device_id,
                                                sender_device_session_id=sender_device.id, sealed=sealed,
                                                created_at=now))
        else:
            row.sealed, row.created_at = sealed, now

    by_user: dict[int, list[int]] = {}
    for device_id, user_id in targets.items():
        by_user.setdefault(user_id, []).append(device_id)
    for user_id, device_ids in by_user.items():
        pending.add(ROOM_KEY_AVAILABLE, {"room_id": room.id, "key_version": key.version, "key_id": key.key_id,
                                         "device_session_ids": sorted(device_ids)}, user_id=user_id)

    for request in database.session.scalars(select(RoomKeyRequest).where(
            RoomKeyRequest.room_id == room.id, RoomKeyRequest.device_session_id.in_(targets),
            RoomKeyRequest.fulfilled_at.is_(None))):
        if key.version not in request.versions:
            continue
        request.versions = [v for v in request.versions if v != key.version]
        request.updated_at = now
        if not request.versions:
            request.fulfilled_at = now
            pending.add(ROOM_KEY_REQUEST_FULFILLED, {"room_id": room.id, "request_id": request.id,
                                                     "device_session_id": request.device_session_id},
                        room_id=room.id)
    commit_and_emit(pending)
    return key, len(packages)


# --- key requests --------------------------------------------------------------------------

def check_requested_versions(membership: RoomMember, versions: list[int]) -> None:
    """Every requested version must exist and be one the caller is entitled to."""
    known = set(database.session.scalars(select(RoomKey.version).where(RoomKey.room_id == membership.room_id)))
    unknown = sorted(set(versions) - known)
    if unknown:
        raise ApiError("VALIDATION_ERROR", detail=f"versions: {unknown} are not versions of this room")
    entitled = set(database.session.scalars(_entitled_versions(room_key_state(membership.room_id), membership)))
    refused = sorted(set(versions) - entitled)
    if refused:
        raise ApiError("ROOM_KEY_NOT_ENTITLED", detail=f"versions {refused} were made before you joined")


def request_payload(request: RoomKeyRequest, keys: DeviceKey, device: DeviceSession) -> dict[str, Any]:
    return {"request_id": request.id, "room_id": request.room_id, **device_keys_payload(keys, device),
            "versions": list(request.versions), "created_at": serialize.iso(request.created_at),
            "updated_at": serialize.iso(request.updated_at)}


def open_requests(room_id: int) -> list[dict[str, Any]]:
    """Open requests of live devices of current members: what a device that holds keys can answer."""
    rows = database.session.execute(
        select(RoomKeyRequest, DeviceKey, DeviceSession)
        .join(DeviceKey, DeviceKey.device_session_id == RoomKeyRequest.device_session_id)
        .join(DeviceSession, DeviceSession.id == RoomKeyRequest.device_session_id)
        .join(RoomMember, and_(RoomMember.room_id == RoomKeyRequest.room_id, RoomMember.user_id == DeviceKey.user_id))
        .where(RoomKeyRequest.room_id == room_id, RoomKeyRequest.fulfilled_at.is_(None), live_device(utcnow()))
        .order_by(RoomKeyRequest.id))
    return [request_payload(*row) for row in rows]


def do_request_room_keys(room: Room, device: DeviceSession, keys: DeviceKey, versions: list[int]) -> dict[str, Any]:
    """Open (or widen) the device's request for these versions and ask the room: every member's
    device, the user's own other devices included, hears `room_key_requested` and may answer by
    posting packages. Returns the request as listed."""
    now = utcnow()
    request = database.session.scalar(select(RoomKeyRequest).where(RoomKeyRequest.room_id == room.id,
                                                                    RoomKeyRequest.device_session_id == device.id))
    if request is None:
        request = RoomKeyRequest(room_id=room.id, device_session_id=device.id, versions=[], created_at=now)
        database.session.add(request)
    wanted = set(versions) if request.fulfilled_at is not None else set(request.versions) | set(versions)
    request.versions, request.updated_at, request.fulfilled_at = sorted(wanted), now, None
    database.session.flush()
    payload = request_payload(request, keys, device)
    pending = Pending()
    pending.add(ROOM_KEY_REQUESTED, dict(payload), room_id=room.id)
    commit_and_emit(pending)
    return payload


# --- key backup ----------------------------------------------------------------------------

def key_backup(user_id: int) -> KeyBackup | None:
    return database.session.get(KeyBackup, user_id)


def key_backup_payload(backup: KeyBackup, with_blob: bool = True) -> dict[str, Any]:
    answer = {"version": backup.version, "updated_at": serialize.iso(backup.updated_at),
              "device_session_id": backup.device_session_id}
    if with_blob:
        answer["blob"] = backup.blob
    return answer


def do_store_key_backup(user: User, device: DeviceSession | None, blob: str, version: int, ip: str,
                        user_agent: str) -> KeyBackup:
    """Store the user's backup if `version` is the stored one + 1 (1 for the first), else
    KEY_BACKUP_VERSION_CONFLICT: of two devices saving at once, the second must reload and merge."""
    now = utcnow()
    device_id = device.id if device else None
    if version == 1:
        try:
            with database.session.begin_nested():
                database.session.add(KeyBackup(user_id=user.id, version=1, blob=blob, updated_at=now,
                                               device_session_id=device_id))
        except IntegrityError:
            database.session.rollback()
            raise ApiError("KEY_BACKUP_VERSION_CONFLICT") from None
    else:
        # Compare-and-set in one statement, so a concurrent writer cannot slip in between.
        # An UPDATE answers a CursorResult, which has the row count.
        swapped = cast(CursorResult[Any], database.session.execute(
            update(KeyBackup).where(KeyBackup.user_id == user.id, KeyBackup.version == version - 1)
            .values(version=version, blob=blob, updated_at=now, device_session_id=device_id)
            .execution_options(synchronize_session=False))).rowcount
        if swapped != 1:
            database.session.rollback()
            raise ApiError("KEY_BACKUP_VERSION_CONFLICT")
    backup = database.session.get_one(KeyBackup, user.id)
    database.session.refresh(backup)
    record_audit("key_backup_updated", user.id, ip, user_agent, version=version, device_session_id=device_id)
    pending = Pending()
    pending.add(KEY_BACKUP_UPDATED, key_backup_payload(backup, with_blob=False), user_id=user.id)
    commit_and_emit(pending)
    return backup


def delete_key_backup(user_id: int) -> None:
    """Staged, no commit: forget the user's key backup and identity (account deletion: nothing
    personal stays)."""
    database.session.execute(delete(KeyBackup).where(KeyBackup.user_id == user_id))
    database.session.execute(delete(IdentityKey).where(IdentityKey.user_id == user_id))
