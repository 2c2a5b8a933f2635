"""Online and offline: a socket's arrival and departure, and the users a dead process left.

A user is online while they have a socket on any server process; their rooms hear
`user_status` when that changes.
"""

from __future__ import annotations

from sqlalchemy import select

from messenger.core import protocol
from messenger.server.actions.events import emit_now
from messenger.server.db.models import RoomMember
from messenger.server.extensions import database
from messenger.server.presence import presence
from messenger.server.socket_access import SocketCaller


def member_room_ids(user_id: int) -> list[int]:
    return list(database.session.scalars(select(RoomMember.room_id).where(RoomMember.user_id == user_id)))


def _tell_rooms(user_id: int, status: str, room_ids: list[int]) -> None:
    for room_id in room_ids:
        emit_now(protocol.USER_STATUS, {"user_id": user_id, "status": status}, room_id=room_id)


def do_socket_connected(sid: str, caller: SocketCaller, room_ids: list[int]) -> None:
    """Count a new socket (`room_ids`: its user's rooms); the rooms hear if the user came online."""
    if presence().connected(sid, caller):
        _tell_rooms(caller.user_id, "online", room_ids)


def forget_socket(sid: str) -> None:
    """The one place a closed socket's state in its process is dropped, however it was closed
    (by its client, by `close_sockets` from any process, by the sweep); the rooms hear if it was
    its user's last socket."""
    caller, went_offline = presence().disconnected(sid)
    if caller is not None and went_offline:
        _tell_rooms(caller.user_id, "offline", member_room_ids(caller.user_id))


def mark_dead_processes_offline() -> int:
    """Keep this process counted, and take offline the users only a dead process had; returns
    how many."""
    gone = presence().heartbeat()
    for user_id in gone:
        _tell_rooms(user_id, "offline", member_room_ids(user_id))
    return len(gone)
