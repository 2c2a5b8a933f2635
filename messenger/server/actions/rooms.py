"""Rooms: creation, membership, names, roles, per-user flags and notices (contract section 3).

Roles: the creator of a group is its admin. In a direct room both people are admins:
a DM is reused whichever side opens it, so "creator" is an accident, and neither side
gets power over the other (a direct room's members and roles are fixed anyway).

Membership changes move live sockets as well as rows: joining subscribes the new
member's sockets to the room channel, and leaving or being kicked unsubscribes them
straight after the commit, before anything else is emitted, so a removed user's
sockets see nothing more of the room.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from messenger.core import protocol
from messenger.server import serialize
from messenger.server.actions.events import (
    Pending,
    commit_and_emit,
    emit_all,
    subscribe_user_to_room,
    unsubscribe_user_from_room,
)
from messenger.server.actions.keys import mark_rotation_required
from messenger.server.db.models import ROOM_ADMIN, ROOM_MEMBER, Message, Notice, Room, RoomMember, User, utcnow
from messenger.server.errors import ApiError
from messenger.server.extensions import database


# --- reading -----------------------------------------------------------------------------

def direct_key(first_id: int, second_id: int) -> str:
    low, high = sorted((first_id, second_id))
    return f"{low}:{high}"


def direct_partner_id(room: Room, viewer_id: int) -> int | None:
    """The other person of a direct room, known from its key even after they left."""
    if room.type != "direct" or not room.direct_key:
        return None
    ids = [int(part) for part in room.direct_key.split(":")]
    others = [i for i in ids if i != viewer_id]
    return others[0] if others else None


def room_summaries(user_ids: Iterable[int], room_id: int | None = None,
                   include_members: bool = False) -> list[tuple[int, dict[str, Any]]]:
    """`(viewer id, room summary)` for each room the viewers are members of (only `room_id`
    if given), pinned rooms first, then by last activity, newest first.

    A constant number of queries whatever the number of rooms: one for the rooms with their
    aggregates, one for DM partners, one for members when asked.
    """
    user_ids = list(user_ids)

    def viewers(alias: type[RoomMember]) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [alias.user_id.in_(user_ids)]
        if room_id is not None:
            conditions.append(alias.room_id == room_id)
        return conditions

    scope_member = aliased(RoomMember)
    in_play = select(scope_member.room_id).where(*viewers(scope_member))
    counts = (select(RoomMember.room_id, func.count().label("n"))
              .where(RoomMember.room_id.in_(in_play))
              .group_by(RoomMember.room_id).subquery("member_counts"))
    # Walks the (room_id, id) index backwards and stops at the first live message.
    last_id = (select(Message.id).where(Message.room_id == Room.id, Message.deleted_at.is_(None))
               .order_by(Message.id.desc()).limit(1).correlate(Room).scalar_subquery())
    reader = aliased(RoomMember)
    unread = (select(reader.room_id, reader.user_id, func.count(Message.id).label("n"))
              .join(Message, and_(Message.room_id == reader.room_id,
                                  Message.id > reader.last_read_message_id,
                                  Message.sender_id != reader.user_id,
                                  Message.deleted_at.is_(None)))
              .where(*viewers(reader))
              .group_by(reader.room_id, reader.user_id).subquery("unread"))
    viewer = aliased(RoomMember)
    last = aliased(Message)
    last_sender = aliased(User)
    rows = database.session.execute(
        select(viewer, Room, counts.c.n, last, last_sender, unread.c.n)
        .join(Room, Room.id == viewer.room_id)
        .join(counts, counts.c.room_id == Room.id)
        .outerjoin(last, last.id == last_id)
        .outerjoin(last_sender, last_sender.id == last.sender_id)
        .outerjoin(unread, and_(unread.c.room_id == viewer.room_id, unread.c.user_id == viewer.user_id))
        .where(*viewers(viewer))
        .order_by(viewer.pinned.desc(), func.coalesce(last.created_at, Room.created_at).desc(), Room.id.desc())
    ).all()

    partner_ids = {direct_partner_id(room, member.user_id) for member, room, *_ in rows} - {None}
    partners: dict[int | None, User] = (
        {u.id: u for u in database.session.scalars(select(User).where(User.id.in_(partner_ids)))}
        if partner_ids else {})
    members: dict[int, list[dict[str, Any]]] = {}
    if include_members and rows:
        for member, user in database.session.execute(
                select(RoomMember, User).join(User, User.id == RoomMember.user_id)
                .where(RoomMember.room_id.in_(in_play))
                .order_by(RoomMember.joined_at, RoomMember.user_id)):
            members.setdefault(member.room_id, []).append(serialize.membership(member, user))

    answer = []
    for member, room, member_count, last_message, sender, unread_count in rows:
        summary = serialize.room_summary(room, member, member_count, last_message, sender, unread_count or 0,
                                         partners.get(direct_partner_id(room, member.user_id)))
        if include_members:
            summary["members"] = members.get(room.id, [])
        answer.append((member.user_id, summary))
    return answer


def room_summary(user_id: int, room_id: int, include_members: bool = False) -> dict[str, Any]:
    """One room as `user_id` (a member) sees it in the room list."""
    [(_, summary)] = room_summaries([user_id], room_id, include_members)
    return summary


def room_members(room_id: int) -> list[dict[str, Any]]:
    rows = database.session.execute(
        select(RoomMember, User).join(User, User.id == RoomMember.user_id)
        .where(RoomMember.room_id == room_id).order_by(RoomMember.joined_at, RoomMember.user_id))
    return [serialize.membership(member, user) for member, user in rows]


def room_admins(room_id: int) -> list[dict[str, Any]]:
    return [m for m in room_members(room_id) if m["role"] == ROOM_ADMIN]


def membership_of(room: Room, user_id: int) -> RoomMember:
    """Another user's membership in a room the caller may see, or ROOM_NOT_MEMBER."""
    member = database.session.get(RoomMember, (room.id, user_id))
    if member is None:
        raise ApiError("ROOM_NOT_MEMBER")
    return member


def active_users(user_ids: Iterable[int]) -> list[User]:
    """The users behind `user_ids`, or USER_NOT_FOUND if any is unknown, deleted or disabled."""
    wanted = set(user_ids)
    if not wanted:
        return []
    found = list(database.session.scalars(select(User).where(
        User.id.in_(wanted), User.deleted_at.is_(None), User.disabled_at.is_(None))))
    if len(found) != len(wanted):
        raise ApiError("USER_NOT_FOUND")
    return found


def room_notices(room_id: int) -> list[dict[str, Any]]:
    pinner = aliased(User)
    target = aliased(Message)
    target_sender = aliased(User)
    rows = database.session.execute(
        select(Notice, pinner, target, target_sender)
        .outerjoin(pinner, pinner.id == Notice.pinned_by)
        .outerjoin(target, target.id == Notice.message_id)
        .outerjoin(target_sender, target_sender.id == target.sender_id)
        .where(Notice.room_id == room_id).order_by(Notice.id.desc()))
    return [serialize.notice(*row) for row in rows]


def notice_target(room: Room, message_id: int) -> Message:
    """A live message of this room that may be pinned as a notice."""
    message = database.session.get(Message, message_id)
    if message is None or message.room_id != room.id:
        raise ApiError("MESSAGE_NOT_FOUND")
    if message.deleted_at is not None:
        raise ApiError("MESSAGE_DELETED")
    return message


def notice_in_room(room: Room, notice_id: int) -> Notice:
    notice = database.session.get(Notice, notice_id)
    if notice is None or notice.room_id != room.id:
        raise ApiError("PIN_NOT_FOUND")
    return notice


# --- membership ----------------------------------------------------------------------------

def _last_message_id(room_id: int) -> int:
    return database.session.execute(select(func.coalesce(func.max(Message.id), 0))
                                    .where(Message.room_id == room_id)).scalar_one()


def _add_members(room: Room, user_ids: Iterable[int], role: str) -> list[int]:
    """Stage memberships for those not yet in the room; returns who was added.

    A newcomer's read mark starts at the room's newest message: history from before they
    joined is readable but not "unread".
    """
    present = set(database.session.scalars(select(RoomMember.user_id).where(RoomMember.room_id == room.id)))
    added = [uid for uid in dict.fromkeys(user_ids) if uid not in present]
    if added:
        read_mark = _last_message_id(room.id)
        now = utcnow()
        database.session.add_all(RoomMember(room_id=room.id, user_id=uid, role=role, joined_at=now,
                                            last_read_message_id=read_mark, pinned=False, muted=False)
                                 for uid in added)
        database.session.flush()
    return added


def _members_updated(pending: Pending, room_id: int, action: str, user_ids: list[int], reason: str) -> None:
    pending.add(protocol.ROOM_MEMBERS_UPDATED, {"room_id": room_id, "action": action, "user_ids": user_ids,
                                                "reason": reason, "members": room_members(room_id)},
                room_id=room_id)


def _room_arrived(pending: Pending, room: Room, user_ids: list[int], action: str) -> None:
    """Tell each user's devices about a room now in their list."""
    for viewer_id, summary in room_summaries(user_ids, room.id):
        pending.add(protocol.ROOM_UPDATED, {"room_id": room.id, "action": action, "room": summary},
                    user_id=viewer_id)


def _commit_subscribe_and_emit(pending: Pending, room_id: int, user_ids: list[int]) -> None:
    # Subscribed before the emit, so the new members' sockets see this change too.
    database.session.commit()
    for uid in user_ids:
        subscribe_user_to_room(uid, room_id)
    emit_all(pending)


def _find_direct_room(key: str) -> Room | None:
    return database.session.scalar(select(Room).where(Room.direct_key == key))


def do_create_room(creator: User, others: list[User], name: str | None) -> tuple[Room, bool]:
    """A direct room for exactly two people (reused if it exists), else a group.

    Returns the room and whether it is new. Reusing a DM brings back whichever of the
    two had left it. Every member's devices get `room_updated` and their sockets join.
    """
    if len(others) == 1:
        key = direct_key(creator.id, others[0].id)
        room, created = _find_direct_room(key), False
        if room is None:
            room, created = Room(name=None, type="direct", created_by=creator.id, direct_key=key), True
            database.session.add(room)
            try:
                database.session.flush()
            except IntegrityError:
                # The other side opened the same DM at the same moment: use theirs (nothing
                # else is staged yet, so a rollback loses nothing).
                database.session.rollback()
                room, created = _find_direct_room(key), False
                if room is None:
                    raise  # not that race: some other conflict
        joined = _add_members(room, [creator.id, others[0].id], ROOM_ADMIN)
    else:
        room, created = Room(name=name, type="group", created_by=creator.id), True
        database.session.add(room)
        database.session.flush()
        joined = _add_members(room, [creator.id], ROOM_ADMIN) + _add_members(room, [u.id for u in others], ROOM_MEMBER)
    pending = Pending()
    if joined:
        _room_arrived(pending, room, joined, "created" if created else "added")
        if not created:
            _members_updated(pending, room.id, "added", joined, "direct_reopened")
    _commit_subscribe_and_emit(pending, room.id, joined)
    return room, created


def do_invite_members(room: Room, users: list[User]) -> list[int]:
    """Add users to a group (those already in are skipped); returns who was added."""
    added = _add_members(room, [u.id for u in users], ROOM_MEMBER)
    pending = Pending()
    if added:
        _members_updated(pending, room.id, "added", added, "invited")
        _room_arrived(pending, room, added, "added")
    _commit_subscribe_and_emit(pending, room.id, added)
    return added


def remove_membership(pending: Pending, room: Room, user_id: int, reason: str) -> None:
    """Stage (no commit) one member's removal and its events; nothing if not a member.

    When the last admin goes, the longest-standing remaining member (earliest `joined_at`,
    then lowest user id) becomes admin. A room whose last member leaves is kept, with its
    messages, and simply has no members. The caller commits, then calls
    `unsubscribe_user_from_room` for the removed user.
    """
    member = database.session.get(RoomMember, (room.id, user_id))
    if member is None:
        return
    database.session.delete(member)
    database.session.flush()
    # The leaver may hold the room's current key: the next sender must make a new one.
    mark_rotation_required(room.id)
    _members_updated(pending, room.id, "removed", [user_id], reason)
    pending.add(protocol.ROOM_UPDATED, {"room_id": room.id, "action": "removed", "reason": reason},
                user_id=user_id)
    if member.role != ROOM_ADMIN:
        return
    remaining = list(database.session.scalars(select(RoomMember).where(RoomMember.room_id == room.id)
                                              .order_by(RoomMember.joined_at, RoomMember.user_id)))
    if remaining and not any(m.role == ROOM_ADMIN for m in remaining):
        successor = remaining[0]
        successor.role = ROOM_ADMIN
        database.session.flush()
        pending.add(protocol.ADMIN_UPDATED, {"room_id": room.id, "user_id": successor.user_id, "is_admin": True,
                                             "reason": "last_admin_left"}, room_id=room.id)


def _commit_unsubscribe_and_emit(pending: Pending, room_id: int, user_id: int) -> None:
    # Unsubscribed before anything is emitted: the removed user's sockets get no more room
    # events, not even this one (their user channel gets `room_updated` "removed").
    database.session.commit()
    unsubscribe_user_from_room(user_id, room_id)
    emit_all(pending)


def do_leave_room(user: User, room: Room) -> None:
    """The caller leaves. Allowed in a direct room too: the partner keeps it, and opening
    the DM again brings the leaver back."""
    pending = Pending()
    remove_membership(pending, room, user.id, "left")
    _commit_unsubscribe_and_emit(pending, room.id, user.id)


def do_kick_member(room: Room, target: RoomMember) -> None:
    """Remove a member from a group (the route has checked the caller is a room admin and
    the target is not one)."""
    pending = Pending()
    remove_membership(pending, room, target.user_id, "kicked")
    _commit_unsubscribe_and_emit(pending, room.id, target.user_id)


# --- room settings -------------------------------------------------------------------------

def do_rename_room(room: Room, name: str) -> None:
    room.name = name
    pending = Pending()
    pending.add(protocol.ROOM_NAME_UPDATED, {"room_id": room.id, "name": name}, room_id=room.id)
    commit_and_emit(pending)


def do_set_room_flag(user: User, membership: RoomMember, flag: str, value: bool) -> dict[str, Any]:
    """Set the caller's own `pinned` or `muted` for a room; only the caller's devices hear of it.
    Returns the room as the caller now sees it."""
    setattr(membership, flag, value)
    database.session.flush()
    summary = room_summary(user.id, membership.room_id)
    pending = Pending()
    pending.add(protocol.ROOM_UPDATED, {"room_id": membership.room_id, "action": "updated", "room": summary},
                user_id=user.id)
    commit_and_emit(pending)
    return summary


def admin_count(room_id: int) -> int:
    return database.session.execute(select(func.count()).select_from(RoomMember).where(
        RoomMember.room_id == room_id, RoomMember.role == ROOM_ADMIN)).scalar_one()


def do_set_room_admin(room: Room, target: RoomMember, is_admin: bool) -> bool:
    """Grant or take back a member's admin role; returns whether anything changed."""
    if (target.role == ROOM_ADMIN) == is_admin:
        return False
    target.role = ROOM_ADMIN if is_admin else ROOM_MEMBER
    pending = Pending()
    pending.add(protocol.ADMIN_UPDATED, {"room_id": room.id, "user_id": target.user_id, "is_admin": is_admin},
                room_id=room.id)
    commit_and_emit(pending)
    return True


# --- notices -------------------------------------------------------------------------------

def notice_payload(notice: Notice) -> dict[str, Any]:
    target = database.session.get(Message, notice.message_id) if notice.message_id else None
    return serialize.notice(notice, database.session.get(User, notice.pinned_by), target,
                            database.session.get(User, target.sender_id) if target else None)


def _pin_updated(pending: Pending, room_id: int, action: str, pin: dict[str, Any]) -> None:
    pending.add(protocol.PIN_UPDATED, {"room_id": room_id, "action": action, "pin": pin}, room_id=room_id)


def do_add_notice(user: User, room: Room, message_id: int | None, content: str | None) -> tuple[dict[str, Any], bool]:
    """Pin a message of this room (checked by `notice_target`), or a free text, as a room
    notice. Any member may.

    Returns the notice and whether it is new: pinning an already pinned message gives back
    the existing notice and broadcasts nothing.
    """
    if message_id is not None:
        existing = database.session.scalar(select(Notice).where(Notice.room_id == room.id,
                                                                Notice.message_id == message_id))
        if existing is not None:
            return notice_payload(existing), False
    notice = Notice(room_id=room.id, message_id=message_id, content=content, pinned_by=user.id, pinned_at=utcnow())
    database.session.add(notice)
    database.session.flush()
    pin = notice_payload(notice)
    pending = Pending()
    _pin_updated(pending, room.id, "added", pin)
    commit_and_emit(pending)
    return pin, True


def do_remove_notice(notice: Notice) -> None:
    pin = notice_payload(notice)
    database.session.delete(notice)
    pending = Pending()
    _pin_updated(pending, notice.room_id, "removed", pin)
    commit_and_emit(pending)
