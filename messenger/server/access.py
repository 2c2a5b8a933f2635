"""The one place that decides whether a user may touch a room or a message.

Something missing and something the caller may not see get the same 404, so
existence never leaks; a member who lacks a role gets 403.
"""

from __future__ import annotations

from sqlalchemy import select

from messenger.server.db.models import Message, Room, RoomMember, User
from messenger.server.errors import ApiError
from messenger.server.extensions import database


def access_room(user: User, room_id) -> tuple[Room, RoomMember]:
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


def access_room_as_admin(user: User, room_id) -> tuple[Room, RoomMember]:
    room, membership = access_room(user, room_id)
    if membership.role != "admin":
        raise ApiError("ROOM_ADMIN_REQUIRED")
    return room, membership


def access_message(user: User, message_id) -> tuple[Message, RoomMember]:
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


def access_own_message(user: User, message_id) -> Message:
    """A live message the caller sent (edit and delete are the sender's alone)."""
    message, _ = access_message(user, message_id)
    if message.sender_id != user.id:
        raise ApiError("MESSAGE_NOT_SENDER")
    if message.deleted_at is not None:
        raise ApiError("MESSAGE_DELETED")
    return message
