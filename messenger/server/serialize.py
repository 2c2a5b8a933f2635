"""The JSON shapes of stored things, as the contract names their fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, Sequence

from messenger.server.presence import presence
from messenger.server.db.models import DeviceSession, Message, Notice, Room, RoomMember, User

PREVIEW_CHARS = 100


class Sender(Protocol):
    """What a message's shape reads of its sender: a User, a socket's caller or a selected row."""

    @property
    def nickname(self) -> str: ...


class ReactionRow(Protocol):
    """What the reactions' shape reads of each: a Reaction or a selected (emoji, user_id) row."""

    @property
    def emoji(self) -> str: ...

    @property
    def user_id(self) -> int: ...


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def user_public(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "nickname": user.nickname,
        "status_message": user.status_message or "",
        "profile_image": f"/api/users/{user.id}/profile-image" if user.profile_image else None,
        "status": "online" if presence().is_online(user.id) else "offline",
        "is_admin": bool(user.is_admin),
        "deleted": user.deleted_at is not None,
    }


def user_self(user: User) -> dict[str, Any]:
    return {**user_public(user), "created_at": iso(user.created_at)}


def device_session(row: DeviceSession, current_id: int | None, now: datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "device_id": row.device_id,
        "device_name": row.device_name,
        "created_at": iso(row.created_at),
        "last_used_at": iso(row.last_used_at),
        "expires_at": iso(row.expires_at),
        "ip": row.ip,
        "user_agent": row.user_agent,
        "remember": bool(row.remember),
        "ttl_days": row.ttl_days,
        "is_expired": row.expires_at <= now,
        "is_current": row.id == current_id,
        "kind": row.kind,
    }


def reply_preview(reply: Message | None, sender: User | None) -> dict[str, Any] | None:
    if reply is None:
        return None
    return {
        "id": reply.id,
        "sender_id": reply.sender_id,
        "sender_name": sender.nickname if sender else None,
        "content": "" if reply.deleted_at else reply.content[:PREVIEW_CHARS] if not reply.encrypted else reply.content,
        "encrypted": bool(reply.encrypted),
        "message_type": reply.message_type,
        "deleted": reply.deleted_at is not None,
    }


def reactions(rows: Sequence[ReactionRow], viewer_id: int | None = None) -> list[dict[str, Any]]:
    """Reactions grouped by emoji, in the order each emoji was first used.

    With a `viewer_id` each group says whether the viewer is in it (`me`); a room
    broadcast has no single viewer, so it carries `user_ids` only.
    """
    groups: dict[str, list[int]] = {}
    for row in rows:
        groups.setdefault(row.emoji, []).append(row.user_id)
    answer: list[dict[str, Any]] = [{"emoji": emoji, "count": len(user_ids), "user_ids": user_ids}
                                    for emoji, user_ids in groups.items()]
    if viewer_id is not None:
        for group in answer:
            group["me"] = viewer_id in group["user_ids"]
    return answer


def file_url(file_id: int) -> str:
    """Where a room's file is downloaded (by members of that room only)."""
    return f"/uploads/{file_id}"


def message(row: Message, sender: Sender | None, reply: Message | None = None, reply_sender: User | None = None,
            reactions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    deleted = row.deleted_at is not None
    # Loaded only for file and image messages (one lookup each).
    room_file = row.room_file if row.message_type in ("file", "image") and not deleted else None
    return {
        "id": row.id,
        "room_id": row.room_id,
        "sender_id": row.sender_id,
        "sender_name": sender.nickname if sender else None,
        "content": "" if deleted else row.content,
        "encrypted": bool(row.encrypted),
        "message_type": row.message_type,
        "file_name": None if deleted else row.file_name,
        "file_size": None if deleted else row.file_size,
        "file_id": room_file.id if room_file else None,
        "file_url": file_url(room_file.id) if room_file else None,
        "client_msg_id": row.client_msg_id,
        "reply_to": row.reply_to,
        "reply_preview": reply_preview(reply, reply_sender),
        "created_at": iso(row.created_at),
        "edited_at": iso(row.edited_at),
        "deleted": deleted,
        "reactions": reactions or [],
    }


def membership(member: RoomMember, user: User) -> dict[str, Any]:
    return {**user_public(user), "role": member.role, "joined_at": iso(member.joined_at),
            "last_read_message_id": member.last_read_message_id}


def room_basic(room: Room) -> dict[str, Any]:
    return {"id": room.id, "name": room.name, "type": room.type, "created_by": room.created_by,
            "created_at": iso(room.created_at)}


def room_summary(room: Room, member: RoomMember, member_count: int, last: Message | None, last_sender: User | None,
                 unread_count: int, partner: User | None) -> dict[str, Any]:
    """A room as one member sees it in the room list. The last live message's preview keeps
    ciphertext as it is (clients decrypt); `last_message` adds its type and sender."""
    last_message = reply_preview(last, last_sender)
    return {**room_basic(room), "member_count": member_count,
            "last_message_at": iso(last.created_at) if last else None,
            "last_message_preview": last_message["content"] if last_message else None,
            "last_message": last_message, "unread_count": unread_count, "pinned": bool(member.pinned),
            "muted": bool(member.muted), "role": member.role, "partner": user_public(partner) if partner else None}


def notice(row: Notice, pinner: User | None, target: Message | None, target_sender: User | None) -> dict[str, Any]:
    """A room notice: a pinned message (`message` is its preview) or a free text (`content`)."""
    return {"id": row.id, "room_id": row.room_id, "message_id": row.message_id, "content": row.content,
            "pinned_by": row.pinned_by, "pinned_by_name": pinner.nickname if pinner else None,
            "pinned_at": iso(row.pinned_at), "message": reply_preview(target, target_sender)}
