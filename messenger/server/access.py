"""The one place that decides whether a user may touch a room or a message.

Something missing and something the caller may not see get the same 404, so
existence never leaks; a member who lacks a role gets 403.
"""

from __future__ import annotations

from sqlalchemy import select

from messenger.server.db.models import ROOM_ADMIN, Message, Poll, Room, RoomFile, RoomMember, User
from messenger.server.errors import ApiError
from messenger.server.extensions import database
from messenger.server.socket_access import SocketCaller


def access_room(user: User | SocketCaller, room_id: object) -> tuple[Room, RoomMember]:
    """The room and the caller's membership, or ROOM_NOT_FOUND."""
    if isinstance(room_id, bool) or not isinstance(room_id, int):
        raise ApiError("ROOM_NOT_FOUND")
    row = database.session.execute(
        select(Room, RoomMember)
        .join(RoomMember, RoomMember.room_id == Room.id)
        .where(Room.id == room_id)
        .where(RoomMember.user_id == user.id)
    ).first()
    if row is None:
        raise ApiError("ROOM_NOT_FOUND")
    return row[0], row[1]


def access_room_as_admin(user: User, room_id: object) -> tuple[Room, RoomMember]:
    room, membership = access_room(user, room_id)
    if membership.role != ROOM_ADMIN:
        raise ApiError("ROOM_ADMIN_REQUIRED")
    return room, membership


def access_as_owner_or_room_admin(user: User, owner_id: int | None, membership: RoomMember, refusal: str) -> None:
    """What someone put in a room (a notice, a poll, a file) is taken down by that person or by
    a room admin; anyone else gets `refusal`, the error code of that kind of thing."""
    if owner_id != user.id and membership.role != ROOM_ADMIN:
        raise ApiError(refusal)


def access_message(user: User | SocketCaller, message_id: object) -> tuple[Message, RoomMember]:
    """A message in one of the caller's rooms, or MESSAGE_NOT_FOUND."""
    if isinstance(message_id, bool) or not isinstance(message_id, int):
        raise ApiError("MESSAGE_NOT_FOUND")
    row = database.session.execute(
        select(Message, RoomMember)
        .join(RoomMember, RoomMember.room_id == Message.room_id)
        .where(Message.id == message_id)
        .where(RoomMember.user_id == user.id)
    ).first()
    if row is None:
        raise ApiError("MESSAGE_NOT_FOUND")
    return row[0], row[1]


def access_own_message(user: User | SocketCaller, message_id: object) -> Message:
    """A live message the caller sent (edit and delete are the sender's alone)."""
    message, _ = access_message(user, message_id)
    if message.sender_id != user.id:
        raise ApiError("MESSAGE_NOT_SENDER")
    if message.deleted_at is not None:
        raise ApiError("MESSAGE_DELETED")
    return message


def access_room_file(user: User, file_id: int | None = None, file_path: str | None = None
                     ) -> tuple[RoomFile, Message, RoomMember]:
    """A file of a live message in one of the caller's rooms, by id or by stored name (the
    v4 download path); FILE_NOT_FOUND otherwise, whether missing, deleted or not the caller's."""
    query = select(RoomFile, Message).join(Message, Message.id == RoomFile.message_id)
    query = query.where(RoomFile.id == file_id) if file_id is not None else query.where(RoomFile.file_path == file_path)
    row = database.session.execute(query).first()
    if row is None or row[0].deleted_at is not None or row[1].deleted_at is not None:
        raise ApiError("FILE_NOT_FOUND")
    try:
        _, membership = access_room(user, row[0].room_id)
    except ApiError:
        raise ApiError("FILE_NOT_FOUND") from None
    return row[0], row[1], membership


def access_poll(user: User, poll_id: int) -> tuple[Poll, RoomMember]:
    """A poll in one of the caller's rooms, or POLL_NOT_FOUND (missing or not theirs)."""
    poll = database.session.get(Poll, poll_id)
    if poll is None:
        raise ApiError("POLL_NOT_FOUND")
    try:
        _, membership = access_room(user, poll.room_id)
    except ApiError:
        raise ApiError("POLL_NOT_FOUND") from None
    return poll, membership
