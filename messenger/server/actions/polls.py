"""Polls in rooms (contract section 6): create, vote, close, and closing at `ends_at`.

A poll past its `ends_at` is closed from that instant: votes are refused at once and
every answer shows it closed; `expire_polls` later stores the fact and tells the room.

Anonymous polls: the database keeps who voted (a new vote must replace the voter's old
one, and a voter sees their own choice in `my_votes`), but no answer and no event ever
carries voters, not even for the poll's creator or a room admin.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from messenger.core import protocol
from messenger.server.actions.events import Pending, commit_and_emit
from messenger.server.db.models import Poll, PollOption, PollVote, Room, User, utcnow
from messenger.server.extensions import database
from messenger.server.serialize import iso

QUESTION_CHARS = 200
OPTION_CHARS = 100
MIN_OPTIONS, MAX_OPTIONS = 2, 10


def is_closed(poll: Poll, now: datetime | None = None) -> bool:
    return poll.closed or (poll.ends_at is not None and poll.ends_at <= (now or utcnow()))


def option_ids(poll: Poll) -> set[int]:
    return set(database.session.scalars(select(PollOption.id).where(PollOption.poll_id == poll.id)))


def poll_payloads(polls: list[Poll], viewer_id: int | None) -> list[dict[str, Any]]:
    """Polls as the contract shapes them, in three queries whatever their number.

    `my_votes` is the viewer's choice; a room broadcast has no single viewer, so it
    carries `my_votes: null` (clients keep their own choice from the vote's answer).
    """
    poll_ids = [poll.id for poll in polls]
    options: dict[int, list[PollOption]] = {poll_id: [] for poll_id in poll_ids}
    votes: dict[int, list[PollVote]] = {poll_id: [] for poll_id in poll_ids}
    if poll_ids:
        for option in database.session.scalars(
                select(PollOption).where(PollOption.poll_id.in_(poll_ids)).order_by(PollOption.id)):
            options[option.poll_id].append(option)
        for vote in database.session.scalars(
                select(PollVote).where(PollVote.poll_id.in_(poll_ids)).order_by(PollVote.id)):
            votes[vote.poll_id].append(vote)
    creators = {user.id: user for user in database.session.scalars(
        select(User).where(User.id.in_({poll.created_by for poll in polls})))} if polls else {}
    now = utcnow()
    return [_payload(poll, options[poll.id], votes[poll.id], creators.get(poll.created_by), viewer_id, now)
            for poll in polls]


def _payload(poll: Poll, options: list[PollOption], votes: list[PollVote], creator: User | None,
             viewer_id: int | None, now: datetime) -> dict[str, Any]:
    voters: dict[int, list[int]] = {option.id: [] for option in options}
    for vote in votes:
        voters.setdefault(vote.option_id, []).append(vote.user_id)
    shown = []
    for option in options:
        entry = {"id": option.id, "text": option.option_text, "vote_count": len(voters[option.id])}
        if not poll.anonymous:
            entry["voters"] = voters[option.id]
        shown.append(entry)
    return {
        "id": poll.id,
        "room_id": poll.room_id,
        "question": poll.question,
        "options": shown,
        "total_voters": len({vote.user_id for vote in votes}),
        "my_votes": None if viewer_id is None else [vote.option_id for vote in votes if vote.user_id == viewer_id],
        "multiple_choice": bool(poll.multiple_choice),
        "anonymous": bool(poll.anonymous),
        "closed": is_closed(poll, now),
        "ends_at": iso(poll.ends_at),
        "created_by": poll.created_by,
        "created_by_name": creator.nickname if creator else None,
        "created_at": iso(poll.created_at),
    }


def poll_payload(poll: Poll, viewer_id: int | None) -> dict[str, Any]:
    return poll_payloads([poll], viewer_id)[0]


def room_polls(room_id: int, viewer_id: int, before_id: int | None, limit: int) -> list[dict[str, Any]]:
    """A room's polls, newest first."""
    query = select(Poll).where(Poll.room_id == room_id)
    if before_id is not None:
        query = query.where(Poll.id < before_id)
    return poll_payloads(list(database.session.scalars(query.order_by(Poll.id.desc()).limit(limit))), viewer_id)


def _poll_event(pending: Pending, name: str, poll: Poll) -> None:
    pending.add(name, {"room_id": poll.room_id, "poll": poll_payload(poll, None)}, room_id=poll.room_id)


def do_create_poll(creator: User, room: Room, question: str, options: list[str], multiple_choice: bool,
                   anonymous: bool, ends_at: datetime | None) -> dict[str, Any]:
    """Create a poll and broadcast `poll_created` to the room; returns it as the creator sees it."""
    poll = Poll(room_id=room.id, created_by=creator.id, question=question, multiple_choice=multiple_choice,
                anonymous=anonymous, closed=False, ends_at=ends_at, created_at=utcnow())
    database.session.add(poll)
    database.session.flush()
    database.session.add_all([PollOption(poll_id=poll.id, option_text=text) for text in options])
    database.session.flush()
    pending = Pending()
    _poll_event(pending, protocol.POLL_CREATED, poll)
    commit_and_emit(pending)
    return poll_payload(poll, creator.id)


def do_vote(voter: User, poll: Poll, option_ids: list[int]) -> dict[str, Any]:
    """Replace the voter's choice with `option_ids` (checked by the caller) and broadcast
    `poll_updated`; returns the poll as the voter sees it."""
    database.session.execute(delete(PollVote).where(PollVote.poll_id == poll.id, PollVote.user_id == voter.id))
    now = utcnow()
    database.session.add_all([PollVote(poll_id=poll.id, option_id=option_id, user_id=voter.id, voted_at=now)
                              for option_id in option_ids])
    database.session.flush()
    pending = Pending()
    _poll_event(pending, protocol.POLL_UPDATED, poll)
    commit_and_emit(pending)
    return poll_payload(poll, voter.id)


def do_close_poll(poll: Poll, closer: User) -> dict[str, Any]:
    """Close a poll and broadcast `poll_updated`; a poll already closed stays as it is and
    nothing is broadcast. Returns the poll as the closer sees it."""
    if not poll.closed:
        poll.closed = True
        pending = Pending()
        _poll_event(pending, protocol.POLL_UPDATED, poll)
        commit_and_emit(pending)
    return poll_payload(poll, closer.id)


def expire_polls(now: datetime) -> int:
    """Maintenance job: store as closed every open poll past its `ends_at` and tell its room
    (`poll_updated`); returns how many. Votes were already refused from `ends_at` on."""
    polls = list(database.session.scalars(
        select(Poll).where(Poll.closed.is_(False), Poll.ends_at.is_not(None), Poll.ends_at <= now)))
    if not polls:
        return 0
    pending = Pending()
    for poll in polls:
        poll.closed = True
        _poll_event(pending, protocol.POLL_UPDATED, poll)
    commit_and_emit(pending)
    return len(polls)
