"""Which members of a room this device seals keys to (spec/e2e-keys.md §3c, part of E2EKeys).

The server lists a room's members, and could list one nobody added (a ghost member) to collect
the room's keys. So a device seals to, and answers key requests of, only the members it
*vouches* for: those it saw when it first met the room, those its own user added here, and
those another vouched member's trusted device vouches for in a sealed (signed) key package.
A member the server lists beyond these is refused keys and reported (`unvouched_members`).
"""

from __future__ import annotations

import logging
from typing import Iterable

log = logging.getLogger(__name__)


class RoomMembers:
    """E2EKeys' vouched members; its state is made in E2EKeys.__init__."""

    def vouch(self, room_id: int, user_ids: Iterable[int]) -> None:
        """This user added `user_ids` to the room from this device: vouch for them, and make a
        new key version at the next send, so that its packages tell the other members."""
        with self._lock:
            room = self._room(room_id)
            room.vouched = (room.vouched or set()) | set(user_ids) | {self.user_id}
            room.unvouched -= room.vouched
            room.vouch_pending = True
            self._pins_unsaved = True
        self._save_pins()
        self._notify(room_id)

    def unvouched_members(self, room_id: int | None = None) -> dict[int, list[int]]:
        """Rooms (all, or `room_id`) whose member list shows users no member's device vouched
        for: room id -> their user ids. They get no keys from this device."""
        with self._lock:
            rooms = self._rooms.items() if room_id is None else [(room_id, self._room(room_id))]
            return {rid: sorted(room.unvouched) for rid, room in rooms if room.unvouched}

    def _vouched_devices(self, room_id: int, devices: list[dict]) -> list[dict]:
        """The devices (as the server lists them for the room) whose users this device vouches
        for. The first time this device meets the room it vouches for the members listed then."""
        listed = {d["user_id"] for d in devices} | {self.user_id}
        with self._lock:
            first = self._room(room_id).vouched is None
        # Trust on first use, as for identities: the members as the room lists them now (a member
        # whose devices have no keys yet included).
        members = {m["id"] for m in self.api.room_info(room_id).get("members") or ()} if first else set()
        with self._lock:
            room = self._room(room_id)
            if room.vouched is None:
                room.vouched = members | listed
                self._pins_unsaved = True
            unvouched = listed - room.vouched
            changed = unvouched != room.unvouched
            room.unvouched = unvouched
            vouched = set(room.vouched)
        if changed:
            if unvouched:
                log.warning("e2e: room %s lists members %s that no member's device added; no keys go to them",
                            room_id, sorted(unvouched))
            self._notify(room_id)
        return [d for d in devices if d["user_id"] in vouched]

    def _vouched_for(self, room_id: int, user_id: int | None) -> bool:
        """Whether this device vouches for `user_id` in the room (meeting the room first if need be)."""
        with self._lock:
            known = self._room(room_id).vouched is not None
        if not known:
            self._vouched_devices(room_id, self.directory.room_devices(room_id))
        with self._lock:
            return user_id in (self._room(room_id).vouched or ())

    def _take_vouches(self, room_id: int, sender_user_id: int | None, members) -> None:
        """A trusted package's list of the members its sender vouches for: taken when this
        device vouches for the sender (a member vouched by nobody cannot vouch for others)."""
        if not isinstance(members, list) or not all(type(m) is int for m in members):
            return
        if not self._vouched_for(room_id, sender_user_id):
            return
        with self._lock:
            room = self._room(room_id)
            added = set(members) - room.vouched
            if not added:
                return
            room.vouched |= added
            room.unvouched -= added
            self._pins_unsaved = True
        log.info("e2e: room %s: members %s vouched for by user %s", room_id, sorted(added), sender_user_id)
        self._notify(room_id)

    def _members_to_name(self, room_id: int) -> list[int]:
        """What this device's packages for the room say it vouches for."""
        with self._lock:
            return sorted(self._room(room_id).vouched or ())
