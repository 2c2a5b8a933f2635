"""Messages over REST (contract section 4): room history, edit and delete twins, reactions."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from flask import Blueprint, g
from sqlalchemy import Row, select

from messenger.core import protocol
from messenger.server import serialize
from messenger.server.access import access_message, access_own_message, access_room
from messenger.server.actions.messages import (
    check_content,
    do_delete_message,
    do_edit_message,
    do_toggle_reaction,
    reaction_rows,
)
from messenger.server.auth import login_required
from messenger.server.db.models import Message, Reaction, RoomMember, User
from messenger.server.extensions import database
from messenger.server.params import MAX_ID, invalid, json_body, query_flag, query_int, take, take_text

bp = Blueprint("messages", __name__)


@bp.get("/api/rooms/<int:room_id>/messages")
@login_required
def room_history(room_id: int) -> dict[str, Any]:
    """A page of a room's messages, oldest first, with `has_more`.

    Without a cursor: the newest page. `before_id`: the page before it (scrolling back;
    `has_more` = older ones remain). `after_id`: the messages after it (filling a gap;
    `has_more` = newer ones remain).
    """
    room, _ = access_room(g.user, room_id)
    before_id = query_int("before_id", None, 1, MAX_ID)
    after_id = query_int("after_id", None, 0, MAX_ID)
    if before_id is not None and after_id is not None:
        raise invalid("after_id", "cannot be combined with before_id")
    limit = query_int("limit", protocol.HISTORY_DEFAULT_LIMIT, 1, protocol.HISTORY_MAX_LIMIT)
    in_room = select(Message).where(Message.room_id == room.id)
    if after_id is not None:
        rows = list(database.session.scalars(
            in_room.where(Message.id > after_id).order_by(Message.id).limit(limit + 1)))
        has_more = len(rows) > limit
        rows = rows[:limit]
    else:
        if before_id is not None:
            in_room = in_room.where(Message.id < before_id)
        rows = list(database.session.scalars(in_room.order_by(Message.id.desc()).limit(limit + 1)))
        has_more = len(rows) > limit
        rows = rows[:limit][::-1]
    members = list(database.session.execute(
        select(RoomMember, User).join(User, User.id == RoomMember.user_id).where(RoomMember.room_id == room.id)))
    answer = {"messages": history_page(rows, members, g.user.id), "has_more": has_more}
    if query_flag("include_members"):
        answer["members"] = [serialize.membership(member, user) for member, user in members]
    return answer


def history_page(rows: list[Message], members: list[Row[RoomMember, User]], viewer_id: int) -> list[dict[str, Any]]:
    """Serialize a page with reply previews, reactions and read counts in a fixed number of
    queries, whatever the page's size.

    `read_count`: how many members other than the sender have read the message (their read
    mark is at or past it).
    """
    page_ids = {m.id for m in rows}
    reply_ids = {m.reply_to for m in rows if m.reply_to} - page_ids
    replies = {m.id: m for m in rows}
    if reply_ids:
        replies.update((m.id, m) for m in database.session.scalars(select(Message).where(Message.id.in_(reply_ids))))
    user_ids = {m.sender_id for m in replies.values()} | {m.sender_id for m in rows}
    users = {u.id: u for u in database.session.scalars(select(User).where(User.id.in_(user_ids)))} if user_ids else {}
    reactions: dict[int, list[Reaction]] = {}
    for reaction in reaction_rows(sorted(page_ids)):
        reactions.setdefault(reaction.message_id, []).append(reaction)
    marks = {member.user_id: member.last_read_message_id for member, _ in members}
    sorted_marks = sorted(marks.values())

    def read_count(message: Message) -> int:
        count = len(sorted_marks) - bisect_left(sorted_marks, message.id)
        return count - (marks.get(message.sender_id, 0) >= message.id)

    page = []
    for message in rows:
        reply = replies.get(message.reply_to) if message.reply_to else None
        page.append({
            **serialize.message(message, users.get(message.sender_id), reply,
                                users.get(reply.sender_id) if reply else None,
                                serialize.reactions(reactions.get(message.id, []), viewer_id)),
            "read_count": read_count(message),
        })
    return page


@bp.put("/api/messages/<int:message_id>")
@login_required
def edit_message(message_id: int) -> dict[str, Any]:
    """The REST twin of `edit_message`."""
    data = json_body()
    message = access_own_message(g.user, message_id)
    content, encrypted = take(data, "content", str), take(data, "encrypted", bool)
    check_content(content, encrypted)
    return {"success": True, **do_edit_message(message, content, encrypted)}


@bp.delete("/api/messages/<int:message_id>")
@login_required
def delete_message(message_id: int) -> dict[str, Any]:
    """The REST twin of `delete_message`."""
    return {"success": True, **do_delete_message(access_own_message(g.user, message_id))}


@bp.get("/api/messages/<int:message_id>/reactions")
@login_required
def list_reactions(message_id: int) -> dict[str, Any]:
    message, _ = access_message(g.user, message_id)
    return {"message_id": message.id, "reactions": serialize.reactions(reaction_rows([message.id]), g.user.id)}


@bp.post("/api/messages/<int:message_id>/reactions")
@login_required
def toggle_reaction(message_id: int) -> dict[str, Any]:
    """Add the caller's emoji to the message, or take it back if it was there."""
    emoji = take_text(json_body(), "emoji", 1, 32)
    if not emoji.strip():
        raise invalid("emoji", "must not be blank")
    message, _ = access_message(g.user, message_id)
    added, reactions = do_toggle_reaction(g.user, message, emoji)
    return {"success": True, "message_id": message.id, "room_id": message.room_id, "added": added,
            "reactions": reactions}
