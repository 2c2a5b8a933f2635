"""Message socket events (send, read, typing, edit, delete).

Each handler reads and checks its input, finds the room or message through `access`,
and hands over to one action; the ack goes out after the action's commit.
"""

from __future__ import annotations

from typing import Any

from messenger.core import protocol
from messenger.server.access import access_own_message, access_room
from messenger.server.actions.messages import (
    OutgoingText,
    ReadMark,
    check_content,
    check_length,
    do_delete_message,
    do_edit_message,
    do_mark_read,
    do_send_message,
    do_send_text,
    do_typing,
    reply_target,
)
from messenger.server.db.models import User
from messenger.server.errors import ApiError
from messenger.server.extensions import database
from messenger.server.params import take, take_text
from messenger.server.realtime.handlers import in_room, socket_event
from messenger.server.socket_access import SocketCaller


@socket_event(protocol.SEND_MESSAGE)
def on_send_message(caller: SocketCaller, data: dict[str, Any]) -> dict[str, Any]:
    """Store and broadcast a message; the ack `{message_id}` means it is committed.

    A repeated `client_msg_id` answers the first message's id with `duplicate: true`. A text
    message reads nothing here: its sign-in, membership and e2e policy are checked in the
    transaction that stores it (`do_send_text`).
    """
    try:
        room_id = take(data, "room_id", int)
        message_type = take(data, "type", str, "text")
        if message_type not in protocol.MESSAGE_TYPES_SENDABLE:
            raise ApiError("MESSAGE_TYPE_NOT_ALLOWED")
        content = take(data, "content", str)
        # Required: the length limit and what search may read both depend on it.
        encrypted = take(data, "encrypted", bool)
        reply_to = take(data, "reply_to", int, None)
        client_msg_id = take_text(data, "client_msg_id", 1, 64, default=None)
        # Files and images: the token from POST /api/upload, consumed in the message's transaction.
        upload_token = take(data, "upload_token", str, None)
    except ApiError:
        # A dead sign-in or a room not the caller's answers first, as it always did.
        access_room(caller, take(data, "room_id", int))
        raise
    if message_type == "text" and reply_to is None:
        try:
            check_length(content, encrypted)
        except ApiError:
            access_room(caller, room_id)
            check_content(content, encrypted)  # the e2e policy answers before the length
            raise
        message_id, duplicate = do_send_text(OutgoingText(caller.user_id, caller.device_session_id, room_id,
                                                          content, encrypted, client_msg_id))
    else:
        room, _ = access_room(caller, room_id)
        reply = reply_target(room, reply_to)
        check_content(content, encrypted)
        if message_type == "text":
            assert reply is not None  # a text message comes here only as a reply (reply_to given)
            reply_sender = database.session.get(User, reply.sender_id)
            message_id, duplicate = do_send_text(OutgoingText(caller.user_id, caller.device_session_id, room.id, content,
                                                              encrypted, client_msg_id, reply, reply_sender))
        else:
            message, duplicate = do_send_message(caller, room, content, message_type, encrypted, reply,
                                                 client_msg_id, upload_token)
            message_id = message.id
    return {"message_id": message_id, "duplicate": True} if duplicate else {"message_id": message_id}


@socket_event(protocol.MESSAGE_READ)
def on_message_read(caller: SocketCaller, data: dict[str, Any]) -> dict[str, Any]:
    """Move the caller's read mark in a room forward; a mark at or past the message stays."""
    room_id = take(data, "room_id", int)
    if not in_room(caller, room_id):
        raise ApiError("ROOM_NOT_FOUND")
    mark, moved = do_mark_read(ReadMark(caller.user_id, room_id, take(data, "message_id", int)))
    return {"room_id": room_id, "message_id": mark, "moved": moved}


@socket_event(protocol.TYPING)
def on_typing(caller: SocketCaller, data: dict[str, Any]) -> dict[str, Any]:
    """Tell the room's other sockets; `sent: false` means the throttle held it back."""
    room_id = take(data, "room_id", int)
    if not in_room(caller, room_id):
        raise ApiError("ROOM_NOT_FOUND")
    return {"sent": do_typing(caller, room_id, take(data, "is_typing", bool), caller.sid)}


@socket_event(protocol.EDIT_MESSAGE)
def on_edit_message(user: SocketCaller, data: dict[str, Any]) -> dict[str, Any]:
    """Replace the caller's own text message; the room gets `message_edited`."""
    message = access_own_message(user, take(data, "message_id", int))
    content, encrypted = take(data, "content", str), take(data, "encrypted", bool)
    check_content(content, encrypted)
    edited = do_edit_message(message, content, encrypted)
    return {"message_id": message.id, "room_id": message.room_id, "edited_at": edited["edited_at"]}


@socket_event(protocol.DELETE_MESSAGE)
def on_delete_message(user: SocketCaller, data: dict[str, Any]) -> dict[str, Any]:
    """Soft-delete the caller's own message; the room gets `message_deleted`."""
    return do_delete_message(access_own_message(user, take(data, "message_id", int)))
