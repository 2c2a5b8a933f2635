"""Polls (contract section 6): a room's polls, create, vote, close."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, g

from messenger.server.access import access_as_owner_or_room_admin, access_poll, access_room
from messenger.server.actions import polls
from messenger.server.actions.admin import parse_time
from messenger.server.auth import login_required
from messenger.server.db.models import utcnow
from messenger.server.errors import ApiError
from messenger.server.params import MAX_ID, invalid, json_body, query_int, take, take_id_list, take_text

bp = Blueprint("polls", __name__)


def _take_options(data: dict[str, Any]) -> list[str]:
    raw = take(data, "options", list)
    if not polls.MIN_OPTIONS <= len(raw) <= polls.MAX_OPTIONS:
        raise invalid("options", f"must be {polls.MIN_OPTIONS}-{polls.MAX_OPTIONS} choices")
    options = []
    for value in raw:
        if not isinstance(value, str) or not value.strip() or len(value.strip()) > polls.OPTION_CHARS:
            raise invalid("options", f"each must be 1-{polls.OPTION_CHARS} characters")
        options.append(value.strip())
    if len(set(options)) != len(options):
        raise invalid("options", "must all differ")
    return options


def _take_ends_at(data: dict[str, Any]) -> datetime | None:
    raw = take_text(data, "ends_at", 1, 64, default=None)
    if raw is None:
        return None
    try:
        ends_at = parse_time("ends_at", raw)
    except ValueError as exc:
        raise ApiError("VALIDATION_ERROR", detail=str(exc)) from None
    if ends_at <= utcnow():
        raise invalid("ends_at", "must be in the future")
    return ends_at


@bp.get("/api/rooms/<int:room_id>/polls")
@login_required
def list_polls(room_id: int) -> dict[str, Any]:
    """The room's polls, newest first, paged by `before_id`."""
    room, _ = access_room(g.user, room_id)
    before_id = query_int("before_id", None, 1, MAX_ID)
    limit = query_int("limit", 50, 1, 200)
    return {"polls": polls.room_polls(room.id, g.user.id, before_id, limit)}


@bp.post("/api/rooms/<int:room_id>/polls")
@login_required
def create_poll(room_id: int) -> tuple[dict[str, Any], int]:
    data = json_body()
    room, _ = access_room(g.user, room_id)
    question = take_text(data, "question", 1, polls.QUESTION_CHARS).strip()
    if not question:
        raise invalid("question", "must not be blank")
    options = _take_options(data)
    multiple_choice = take(data, "multiple_choice", bool, False)
    anonymous = take(data, "anonymous", bool, False)
    ends_at = _take_ends_at(data)
    poll = polls.do_create_poll(g.user, room, question, options, multiple_choice, anonymous, ends_at)
    return {"success": True, "poll": poll}, 201


@bp.get("/api/polls/<int:poll_id>")
@login_required
def get_poll(poll_id: int) -> dict[str, Any]:
    poll, _ = access_poll(g.user, poll_id)
    return {"poll": polls.poll_payload(poll, g.user.id)}


@bp.post("/api/polls/<int:poll_id>/vote")
@login_required
def vote(poll_id: int) -> dict[str, Any]:
    """Replace the caller's vote: exactly one option in a single-choice poll, one or more
    otherwise, all of this poll. A closed poll (or one past `ends_at`) refuses at once."""
    data = json_body()
    poll, _ = access_poll(g.user, poll_id)
    if polls.is_closed(poll):
        raise ApiError("POLL_CLOSED")
    option_ids = take_id_list(data, "option_ids", max_items=polls.MAX_OPTIONS)
    if not option_ids or (not poll.multiple_choice and len(option_ids) != 1):
        raise ApiError("POLL_OPTION_INVALID", detail="option_ids: one choice" if not poll.multiple_choice
                       else "option_ids: at least one choice")
    if not set(option_ids) <= polls.option_ids(poll):
        raise ApiError("POLL_OPTION_INVALID")
    return {"success": True, "poll": polls.do_vote(g.user, poll, option_ids)}


@bp.post("/api/polls/<int:poll_id>/close")
@login_required
def close_poll(poll_id: int) -> dict[str, Any]:
    """The poll's creator or a room admin closes it."""
    poll, membership = access_poll(g.user, poll_id)
    access_as_owner_or_room_admin(g.user, poll.created_by, membership, "POLL_CLOSE_NOT_ALLOWED")
    return {"success": True, "poll": polls.do_close_poll(poll, g.user)}
