"""Rooms (contract section 3): list, create, members, names, roles, per-user flags, notices.

Every route reaches its room through `access_room` (404 for a room the caller is not in)
or `access_room_as_admin` (403 for a member without the role).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from messenger.server.access import access_as_owner_or_room_admin, access_room, access_room_as_admin
from messenger.server.actions import rooms
from messenger.server.auth import login_required
from messenger.server.db.models import ROOM_ADMIN
from messenger.server.errors import ApiError
from messenger.server.params import invalid, json_body, query_flag, take, take_id_list, take_text

bp = Blueprint("rooms", __name__)

ROOM_NAME_CHARS = 100
NOTICE_CHARS = 1_000


def take_new_room_name(data: dict[str, Any]) -> str:
    """A room name of 1-100 characters, trimmed; blank is refused."""
    name = take_text(data, "name", 1, ROOM_NAME_CHARS).strip()
    if not name:
        raise invalid("name", f"must be 1-{ROOM_NAME_CHARS} characters")
    return name


@bp.get("/api/rooms")
@login_required
def list_rooms() -> dict[str, Any]:
    summaries = rooms.room_summaries([g.user.id], include_members=query_flag("include_members"))
    return {"rooms": [summary for _, summary in summaries]}


@bp.post("/api/rooms")
@login_required
def create_room() -> tuple[dict[str, Any], int]:
    """Two people (the caller and one other) make a direct room, reused if it exists
    (200, `created: false`); anything else a group (201). A name is kept for groups only."""
    data = json_body()
    field = "member_ids" if "member_ids" in data else "members"
    member_ids = [uid for uid in take_id_list(data, field) if uid != g.user.id]
    # Optional; a blank name (v4 clients send "" for none) means no name.
    name = take_text(data, "name", 0, ROOM_NAME_CHARS, default="").strip() or None
    room, created = rooms.do_create_room(g.user, rooms.active_users(member_ids), name)
    summary = rooms.room_summary(g.user.id, room.id, include_members=True)
    return {"success": True, "room": summary, "room_id": room.id, "created": created}, 201 if created else 200


@bp.get("/api/rooms/<int:room_id>/info")
@login_required
def room_info(room_id: int) -> dict[str, Any]:
    access_room(g.user, room_id)
    return {"room": rooms.room_summary(g.user.id, room_id, include_members=True)}


@bp.post("/api/rooms/<int:room_id>/members")
@login_required
def invite_members(room_id: int) -> dict[str, Any]:
    """Any member may invite into a group; people already in are skipped."""
    room, _ = access_room(g.user, room_id)
    user_ids = take_id_list(json_body(), "user_ids")
    if room.type == "direct":
        raise ApiError("ROOM_DIRECT_FIXED")
    added = rooms.do_invite_members(room, rooms.active_users(user_ids))
    return {"success": True, "added": added, "members": rooms.room_members(room.id)}


@bp.post("/api/rooms/<int:room_id>/leave")
@login_required
def leave_room(room_id: int) -> dict[str, Any]:
    room, _ = access_room(g.user, room_id)
    rooms.do_leave_room(g.user, room)
    return {"success": True}


@bp.delete("/api/rooms/<int:room_id>/members/<int:user_id>")
@login_required
def kick_member(room_id: int, user_id: int) -> dict[str, Any]:
    room, _ = access_room_as_admin(g.user, room_id)
    if room.type == "direct":
        raise ApiError("ROOM_DIRECT_FIXED")
    target = rooms.membership_of(room, user_id)
    if target.role == ROOM_ADMIN:
        raise ApiError("ROOM_CANNOT_KICK_ADMIN")
    rooms.do_kick_member(room, target)
    return {"success": True}


@bp.put("/api/rooms/<int:room_id>/name")
@login_required
def rename_room(room_id: int) -> dict[str, Any]:
    room, _ = access_room_as_admin(g.user, room_id)
    name = take_new_room_name(json_body())
    rooms.do_rename_room(room, name)
    return {"success": True, "room_id": room.id, "name": name}


def set_room_flag(room_id: int, flag: str) -> dict[str, Any]:
    _, membership = access_room(g.user, room_id)
    value = take(json_body(), flag, bool)
    return {"success": True, flag: value, "room": rooms.do_set_room_flag(g.user, membership, flag, value)}


@bp.post("/api/rooms/<int:room_id>/pin")
@login_required
def pin_room(room_id: int) -> dict[str, Any]:
    """Pin the room to the top of the caller's own list."""
    return set_room_flag(room_id, "pinned")


@bp.post("/api/rooms/<int:room_id>/mute")
@login_required
def mute_room(room_id: int) -> dict[str, Any]:
    return set_room_flag(room_id, "muted")


@bp.get("/api/rooms/<int:room_id>/admins")
@login_required
def list_admins(room_id: int) -> dict[str, Any]:
    access_room(g.user, room_id)
    return {"admins": rooms.room_admins(room_id)}


@bp.post("/api/rooms/<int:room_id>/admins")
@login_required
def set_admin(room_id: int) -> dict[str, Any]:
    """Grant or take back the admin role. A direct room's roles are fixed; the last
    admin cannot be taken back (ROOM_LAST_ADMIN)."""
    room, _ = access_room_as_admin(g.user, room_id)
    data = json_body()
    user_id = take(data, "user_id", int)
    is_admin = take(data, "is_admin", bool)
    if room.type == "direct":
        raise ApiError("ROOM_DIRECT_FIXED")
    target = rooms.membership_of(room, user_id)
    if not is_admin and target.role == ROOM_ADMIN and rooms.admin_count(room.id) <= 1:
        raise ApiError("ROOM_LAST_ADMIN")
    changed = rooms.do_set_room_admin(room, target, is_admin)
    return {"success": True, "user_id": user_id, "is_admin": is_admin, "changed": changed}


@bp.get("/api/rooms/<int:room_id>/admin-check")
@login_required
def admin_check(room_id: int) -> dict[str, Any]:
    _, membership = access_room(g.user, room_id)
    return {"is_admin": membership.role == ROOM_ADMIN}


@bp.get("/api/rooms/<int:room_id>/pins")
@login_required
def list_notices(room_id: int) -> dict[str, Any]:
    access_room(g.user, room_id)
    return {"pins": rooms.room_notices(room_id)}


@bp.post("/api/rooms/<int:room_id>/pins")
@login_required
def add_notice(room_id: int) -> tuple[dict[str, Any], int]:
    """Any member may post a notice: a message of this room or a text of 1-1,000 characters.
    Pinning a message that is already pinned answers the existing notice (200)."""
    room, _ = access_room(g.user, room_id)
    data = json_body()
    message_id = take(data, "message_id", int, default=None)
    content = take_text(data, "content", 1, NOTICE_CHARS, default=None)
    if (message_id is None) == (content is None):
        raise invalid("message_id", "give exactly one of message_id and content")
    if content is not None and not content.strip():
        raise invalid("content", f"must be 1-{NOTICE_CHARS} characters")
    if message_id is not None:
        rooms.notice_target(room, message_id)
    pin, created = rooms.do_add_notice(g.user, room, message_id, content)
    return {"success": True, "pin": pin, "created": created}, 201 if created else 200


@bp.delete("/api/rooms/<int:room_id>/pins/<int:pin_id>")
@login_required
def remove_notice(room_id: int, pin_id: int) -> dict[str, Any]:
    """The notice's pinner or a room admin may take it down."""
    room, membership = access_room(g.user, room_id)
    notice = rooms.notice_in_room(room, pin_id)
    access_as_owner_or_room_admin(g.user, notice.pinned_by, membership, "ROOM_ADMIN_REQUIRED")
    rooms.do_remove_notice(notice)
    return {"success": True}
