"""Catch-up after a disconnect: the canonical events a client missed, by cursor.

Every kept event (see `actions.events.Pending`) carries an `event_id`, live and here.
A client remembers the highest one it applied; after reconnecting its socket it asks
for the events after that cursor and skips any it already got live. Event ids follow
commit order (SQLite lets one writer at a time), so nothing can commit behind a cursor.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g
from sqlalchemy import func, or_, select

from messenger.core import protocol
from messenger.server import serialize
from messenger.server.auth import login_required
from messenger.server.db.models import Message, RoomEvent, RoomMember
from messenger.server.extensions import database
from messenger.server.params import MAX_ID, invalid, query_int

bp = Blueprint("events", __name__)

# Events that carry a message's content, and where the message id is in their payload.
CONTENT_EVENTS = {protocol.NEW_MESSAGE: "id", protocol.MESSAGE_EDITED: "message_id"}


@bp.get("/api/events")
@login_required
def events_after() -> dict[str, Any]:
    """The events after `after`, in order: those of the rooms the caller is in now and
    those addressed to the caller. Content of messages deleted since is blanked."""
    after = query_int("after", None, 0, MAX_ID)
    if after is None:
        raise invalid("after", "is required (GET /api/events/cursor gives the current one)")
    limit = query_int("limit", protocol.EVENTS_MAX_LIMIT, 1, protocol.EVENTS_MAX_LIMIT)
    my_rooms = select(RoomMember.room_id).where(RoomMember.user_id == g.user.id)
    rows = list(database.session.scalars(
        select(RoomEvent)
        .where(RoomEvent.id > after)
        .where(or_(RoomEvent.room_id.in_(my_rooms), RoomEvent.user_id == g.user.id))
        .order_by(RoomEvent.id)
        .limit(limit + 1)
    ))
    has_more = len(rows) > limit
    rows = rows[:limit]
    deleted = _deleted_message_ids(rows)
    events = []
    for row in rows:
        data = {**row.payload, "event_id": row.id}
        if row.name in CONTENT_EVENTS and data.get(CONTENT_EVENTS[row.name]) in deleted:
            data["content"] = ""
        events.append({"id": row.id, "event": row.name, "data": data, "room_id": row.room_id,
                       "created_at": serialize.iso(row.created_at)})
    return {"events": events, "next_after": rows[-1].id if rows else after, "has_more": has_more}


def _deleted_message_ids(rows: list[RoomEvent]) -> set[int]:
    ids = {row.payload.get(CONTENT_EVENTS[row.name]) for row in rows if row.name in CONTENT_EVENTS}
    ids.discard(None)
    if not ids:
        return set()
    return set(database.session.scalars(select(Message.id).where(Message.id.in_(ids), Message.deleted_at.is_not(None))))


@bp.get("/api/events/cursor")
@login_required
def current_cursor() -> dict[str, Any]:
    """The newest event id: a fresh client starts here instead of replaying history."""
    return {"cursor": database.session.scalar(select(func.max(RoomEvent.id))) or 0}
