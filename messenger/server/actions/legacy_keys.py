"""The legacy room keys of an office moved from v4 (spec/e2e-keys.md §13): handing them to the
members' devices, and destroying the escrow.

`import-v4` made each imported room's v4 key its key version 1 and sealed it to one escrow
device only, whose private keys are in the file the admin keeps (never in the data dir).
Releasing opens those escrow packages with that file and seals each key to the live devices of
the room's members, signed by the escrow device, through the same packages clients use; from
there, devices pass the key on to later devices as they do any version. Purging deletes the
escrow packages: the server then holds no copy anyone could open.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, exists, func, select, text

from messenger.core.e2e import DeviceKeys, EnvelopeError, open_sealed, room_key_id, seal_to_device
from messenger.server.actions.events import emit_now
from messenger.server.actions.keys import (
    ROOM_KEY_AVAILABLE,
    do_share_room_key,
    is_entitled,
    live_device,
    room_key_state,
)
from messenger.server.db.models import (
    DeviceKey,
    DeviceSession,
    Room,
    RoomKey,
    RoomKeyPackage,
    RoomMember,
    User,
    utcnow,
)
from messenger.server.extensions import database
from messenger.server.import_v4 import ESCROW_USERNAME, LEGACY_KEY_VERSION, ImportRefused


@dataclass
class Release:
    rooms: int = 0
    packages: int = 0
    escrow_purged: list[int] = field(default_factory=list)  # rooms whose every member now holds the key
    waiting: dict[int, list[str]] = field(default_factory=dict)  # room -> members without a keyed device yet

    def as_dict(self) -> dict[str, Any]:
        return {"rooms": self.rooms, "packages": self.packages, "escrow_purged_rooms": self.escrow_purged,
                "members_without_key": {str(room): names for room, names in self.waiting.items()}}


def _escrow() -> tuple[User, DeviceSession, DeviceKey] | None:
    row = database.session.execute(
        select(User, DeviceSession, DeviceKey).join(DeviceSession, DeviceSession.user_id == User.id)
        .join(DeviceKey, DeviceKey.device_session_id == DeviceSession.id)
        .where(User.username == ESCROW_USERNAME)).first()
    return None if row is None else row.tuple()


def escrow_device() -> tuple[User, DeviceSession, DeviceKey]:
    """The escrow account and device that `import-v4` made; ESCROW_NOT_FOUND if there is none."""
    found = _escrow()
    if found is None:
        raise ImportRefused("ESCROW_NOT_FOUND", "this data dir holds no legacy keys from a v4 import")
    return found


def _escrow_packages(device_id: int) -> list[RoomKeyPackage]:
    return list(database.session.scalars(select(RoomKeyPackage).where(
        RoomKeyPackage.device_session_id == device_id, RoomKeyPackage.key_version == LEGACY_KEY_VERSION)
        .order_by(RoomKeyPackage.room_id)))


def do_release_legacy_keys(escrow: DeviceKeys) -> Release:
    """Seal every escrowed legacy key to the live, keyed devices of its room's members that lack
    it, then drop the escrow of each room whose every member holds it (on some device)."""
    user, device, keys = escrow_device()
    if (keys.encryption_key, keys.signing_key) != (escrow.public_key, escrow.signing_public_key):
        raise ImportRefused("ESCROW_KEY_WRONG", "this escrow key file belongs to another import")
    release = Release()
    for package in _escrow_packages(device.id):
        try:
            payload = open_sealed(package.sealed, escrow.exchange, sender_public_key=escrow.signing_public_key)
            room_key = json.loads(payload)["room_key"]
        except (EnvelopeError, ValueError, KeyError) as exc:
            raise ImportRefused("ESCROW_KEY_WRONG", f"room {package.room_id}: the escrow does not open") from exc
        room = database.session.get_one(Room, package.room_id)
        version = database.session.scalars(select(RoomKey).where(RoomKey.room_id == room.id,
                                                                 RoomKey.version == LEGACY_KEY_VERSION)).one()
        if version.key_id != room_key_id(room_key):
            raise ImportRefused("ESCROW_KEY_WRONG", f"room {room.id}: the escrowed key is not version 1's")
        targets = _devices_lacking(room.id, version)
        if targets:
            sealed = [(device_id, seal_to_device(payload, encryption_key, sender=escrow.signing))
                      for device_id, (_, encryption_key) in targets.items()]
            do_share_room_key(room, user, device, LEGACY_KEY_VERSION, version.key_id, version, sealed,
                              {device_id: user_id for device_id, (user_id, _) in targets.items()})
            release.packages += len(sealed)
        release.rooms += 1
        waiting = _members_without_key(room.id, device.id)
        if waiting:
            release.waiting[room.id] = waiting
        else:
            _delete_escrow(device.id, room.id)
            release.escrow_purged.append(room.id)
    database.session.commit()
    return release


def _devices_lacking(room_id: int, version: RoomKey) -> dict[int, tuple[int, str]]:
    """Live, keyed devices of entitled members without a package of the version: device id ->
    (user id, encryption key)."""
    state = room_key_state(room_id)
    held = exists().where(RoomKeyPackage.room_id == room_id, RoomKeyPackage.key_version == version.version,
                          RoomKeyPackage.device_session_id == DeviceKey.device_session_id)
    rows = database.session.execute(
        select(DeviceKey.device_session_id, DeviceKey.user_id, DeviceKey.encryption_key, RoomMember.joined_at)
        .join(DeviceSession, DeviceSession.id == DeviceKey.device_session_id)
        .join(RoomMember, (RoomMember.user_id == DeviceKey.user_id) & (RoomMember.room_id == room_id))
        .where(live_device(utcnow()), ~held))
    return {device_id: (user_id, key) for device_id, user_id, key, joined_at in rows
            if is_entitled(state, version, joined_at)}


def _members_without_key(room_id: int, escrow_device_id: int) -> list[str]:
    """Members (not deleted) none of whose devices ever received the legacy key."""
    received = exists().where(RoomKeyPackage.room_id == room_id, RoomKeyPackage.key_version == LEGACY_KEY_VERSION,
                              RoomKeyPackage.device_session_id != escrow_device_id,
                              RoomKeyPackage.device_session_id == DeviceSession.id,
                              DeviceSession.user_id == RoomMember.user_id)
    return list(database.session.scalars(
        select(User.username).join(RoomMember, RoomMember.user_id == User.id)
        .where(RoomMember.room_id == room_id, User.deleted_at.is_(None), ~received).order_by(User.username)))


def _delete_escrow(device_id: int, room_id: int | None = None) -> int:
    """Staged: delete escrow packages (of one room, or all), overwriting the freed bytes on SQLite."""
    if database.is_sqlite:
        database.session.execute(text("PRAGMA secure_delete = ON"))
    query = delete(RoomKeyPackage).where(RoomKeyPackage.device_session_id == device_id)
    if room_id is not None:
        query = query.where(RoomKeyPackage.room_id == room_id)
    # A DELETE answers a CursorResult, which has the row count.
    return cast(CursorResult[Any], database.session.execute(query)).rowcount


def purge_held_escrows(now: datetime | None = None) -> int:
    """Maintenance: delete the escrow of every room whose every member holds the legacy key on
    some device (also when members' devices passed it on by themselves, without a release);
    returns how many rooms' escrow went."""
    found = _escrow()
    if found is None:
        return 0
    device = found[1]
    held = [package.room_id for package in _escrow_packages(device.id)
            if not _members_without_key(package.room_id, device.id)]
    for room_id in held:
        _delete_escrow(device.id, room_id)
    database.session.commit()
    return len(held)


def do_purge_legacy_keys() -> int:
    """Delete every escrowed legacy key; returns how many rooms' escrow went. Members' devices
    keep the copies sealed to them; nobody can open the escrow any more, with or without the file."""
    _, device, _ = escrow_device()
    removed = _delete_escrow(device.id)
    database.session.commit()
    return removed


# The newest escrow-sealed package this server process has announced (None: not started yet).
_announced_up_to: int | None = None


def start_announcing() -> None:
    """At the server's start: what was sealed before, devices read when they connect; what is
    sealed from now on (even before the first round) is announced."""
    global _announced_up_to
    _announced_up_to = _newest_package()


def _newest_package() -> int:
    return database.session.scalar(select(func.max(RoomKeyPackage.id))) or 0


def announce_releases() -> int:
    """Run by the server every few seconds: tell the devices that `release-legacy-keys` (a
    command beside the running server, which cannot reach its sockets) sealed keys to, so that
    open apps read the old messages at once. Returns how many packages it announced."""
    global _announced_up_to
    found = _escrow()
    escrow = found[1].id if found else None
    newest = _newest_package()
    if _announced_up_to is None or escrow is None:
        _announced_up_to = newest
        return 0
    rows = database.session.execute(
        select(RoomKeyPackage.room_id, RoomKeyPackage.key_version, RoomKeyPackage.device_session_id,
               DeviceSession.user_id, RoomKey.key_id)
        .join(DeviceSession, DeviceSession.id == RoomKeyPackage.device_session_id)
        .join(RoomKey, (RoomKey.room_id == RoomKeyPackage.room_id) & (RoomKey.version == RoomKeyPackage.key_version))
        .where(RoomKeyPackage.id > _announced_up_to, RoomKeyPackage.id <= newest,
               RoomKeyPackage.sender_device_session_id == escrow, RoomKeyPackage.device_session_id != escrow)).all()
    _announced_up_to = newest
    by_user: dict[tuple[int, int, int, str], list[int]] = {}
    for room_id, version, device_id, user_id, key_id in rows:
        by_user.setdefault((user_id, room_id, version, key_id), []).append(device_id)
    for (user_id, room_id, version, key_id), device_ids in by_user.items():
        emit_now(ROOM_KEY_AVAILABLE, {"room_id": room_id, "key_version": version, "key_id": key_id,
                                      "device_session_ids": sorted(device_ids)}, user_id=user_id)
    return len(rows)


def escrow_rooms() -> list[int]:
    """The rooms whose legacy key is still escrowed."""
    _, device, _ = escrow_device()
    return [package.room_id for package in _escrow_packages(device.id)]
