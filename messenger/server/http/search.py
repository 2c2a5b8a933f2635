"""Search (contract section 7) over what the server may read, in the caller's rooms only.

Encrypted messages are searched by the clients over their own local index; here are
unencrypted text and system messages and the names of plaintext uploads.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, current_app, g, request
from sqlalchemy import select

from messenger.server.access import access_room
from messenger.server.actions.admin import parse_time
from messenger.server.auth import login_required
from messenger.server.db.models import RoomMember, User
from messenger.server.db.search import search_messages
from messenger.server.errors import ApiError
from messenger.server.extensions import database
from messenger.server.params import MAX_ID, invalid, query_flag, query_int
from messenger.server.serialize import iso
from messenger.server.throttle import RateLimit

bp = Blueprint("search", __name__)

QUERY_CHARS = 200
MAX_TERMS = 10
MAX_LIMIT = 100
MAX_OFFSET = 10_000


def search_rate() -> RateLimit:
    """The per-user search limit (made in `create_app`)."""
    rate: RateLimit = current_app.extensions["search_rate"]
    return rate


def _query_time(name: str, whole_day_included: bool) -> datetime | None:
    """An ISO time (UTC if it has no offset); a bare date means the start of that UTC day, or
    for `date_to` its end, so `date_from=date_to=2026-11-25` is that whole day."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = parse_time(name, raw)
    except ValueError as exc:
        raise ApiError("VALIDATION_ERROR", detail=str(exc)) from None
    return value + timedelta(days=1) if whole_day_included and len(raw) == len("2026-11-25") else value


@bp.get("/api/search")
@login_required
def search() -> dict[str, Any]:
    """Messages matching every word of `q` (as word beginnings), newest first; `file_only`
    searches file names only. Answers 429 with Retry-After past the per-user rate."""
    wait = search_rate().take(g.user.id)
    if wait:
        raise ApiError("RATE_LIMITED", headers={"Retry-After": str(wait)})
    query = request.args.get("q", "").strip()
    if not 1 <= len(query) <= QUERY_CHARS:
        raise invalid("q", f"must be 1-{QUERY_CHARS} characters")
    terms = list(dict.fromkeys(query.split()))[:MAX_TERMS]
    room_id = query_int("room_id", None, 1, MAX_ID)
    if room_id is not None:
        access_room(g.user, room_id)
    date_from = _query_time("date_from", whole_day_included=False)
    date_to = _query_time("date_to", whole_day_included=True)
    offset = query_int("offset", 0, 0, MAX_OFFSET)
    limit = query_int("limit", 20, 1, MAX_LIMIT)
    my_rooms = select(RoomMember.room_id).where(RoomMember.user_id == g.user.id)
    hits = search_messages(terms, my_rooms, room_id=room_id, date_from=date_from, date_to=date_to,
                           file_only=query_flag("file_only"), offset=offset, limit=limit + 1)
    has_more = len(hits) > limit
    hits = hits[:limit]
    sender_ids = {hit.sender_id for hit in hits}
    senders = {user.id: user for user in database.session.scalars(
        select(User).where(User.id.in_(sender_ids)))} if sender_ids else {}
    results = [{
        "message_id": hit.message_id,
        "room_id": hit.room_id,
        "sender_id": hit.sender_id,
        "sender_name": senders[hit.sender_id].nickname if hit.sender_id in senders else None,
        "message_type": hit.message_type,
        "snippet": hit.snippet,
        "file_id": hit.file_id,
        "file_name": hit.file_name,
        "created_at": iso(hit.created_at),
    } for hit in hits]
    return {"results": results, "offset": offset, "limit": limit, "has_more": has_more}
