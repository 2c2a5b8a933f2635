"""Canonical events: staged in the transaction that makes the change, emitted after commit.

An event with `keep=True` is also written to the `events` table in the same
transaction, so a client that was away reads exactly what it missed by cursor
(`GET /api/events?after=N`). Only this module talks to the Socket.IO server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from messenger.server.db.models import RoomEvent
from messenger.server.extensions import database, socketio
from messenger.server.presence import presence


def room_channel(room_id: int) -> str:
    return f"room:{room_id}"


def user_channel(user_id: int) -> str:
    return f"user:{user_id}"


def device_channel(device_session_id: int) -> str:
    return f"device:{device_session_id}"


def _channel(room_id: int | None, user_id: int | None) -> str:
    if room_id is not None:
        return room_channel(room_id)
    if user_id is not None:
        return user_channel(user_id)
    raise ValueError("an event goes to one room or one user")


@dataclass
class Event:
    name: str
    payload: dict[str, Any]
    room_id: int | None = None  # delivered to the room's subscribed sockets
    user_id: int | None = None  # delivered to every socket of one user
    keep: bool = True
    skip_sid: str | None = None

    @property
    def channel(self) -> str:
        return _channel(self.room_id, self.user_id)


@dataclass
class Pending:
    """The events of one action, in order."""

    events: list[Event] = field(default_factory=list)

    def add(self, name: str, payload: dict[str, Any], *, room_id: int | None = None, user_id: int | None = None,
            keep: bool = True, skip_sid: str | None = None) -> Event:
        if (room_id is None) == (user_id is None):
            raise ValueError("an event goes to exactly one room or one user")
        event = Event(name, payload, room_id, user_id, keep, skip_sid)
        if keep:
            row = RoomEvent(name=name, room_id=room_id, user_id=user_id, payload=payload)
            database.session.add(row)
            database.session.flush()
            payload["event_id"] = row.id
        self.events.append(event)
        return event


def commit_and_emit(pending: Pending) -> None:
    """Commit the transaction, then tell the sockets; nothing is emitted for a failed commit."""
    database.session.commit()
    emit_all(pending)


def emit_all(pending: Pending) -> None:
    for event in pending.events:
        socketio.emit(event.name, event.payload, to=event.channel, skip_sid=event.skip_sid)


def emit_now(name: str, payload: dict[str, Any], *, room_id: int | None = None, user_id: int | None = None,
             skip_sid: str | None = None) -> None:
    """An ephemeral event that changes nothing stored (typing, presence)."""
    socketio.emit(name, payload, to=_channel(room_id, user_id), skip_sid=skip_sid)


def unsubscribe_user_from_room(user_id: int, room_id: int) -> None:
    """Kick and leave take effect on the user's live sockets at once, on every process (the
    Socket.IO manager sends a room change for another process's socket through the queue)."""
    for sid in presence().sids(user_id):
        socketio.server.leave_room(sid, room_channel(room_id), namespace="/")


def subscribe_user_to_room(user_id: int, room_id: int) -> None:
    """A new member's live sockets start receiving the room straight away."""
    for sid in presence().sids(user_id):
        socketio.server.enter_room(sid, room_channel(room_id), namespace="/")


def rename_user_sockets(user_id: int, nickname: str) -> None:
    """The name the user's sockets on this process put on their typing events from now on
    (another process's keep the old one until they reconnect: a typing line, nothing stored)."""
    local = presence().local
    for sid in presence().sids(user_id):
        if sid in local:
            local[sid].nickname = nickname


def close_sockets(sids: list[str], reason: str) -> None:
    """Tell the sockets why, then close them (device revoke, password change, disable, the sweep),
    wherever they are: the manager sends both through the queue to a socket's own process, whose
    disconnect handler then forgets the socket (`forget_socket`)."""
    for sid in sids:
        socketio.emit("session_revoked", {"reason": reason}, to=sid)
        socketio.server.disconnect(sid, namespace="/")
