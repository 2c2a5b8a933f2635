"""Messages: send, read marks, typing, edit, delete and reactions (contract section 4).

Each action changes the database in one transaction and emits its canonical event
after the commit, so whoever sees the event (or the ack) can rely on the change being
on disk: with SQLite in WAL mode and `synchronous=FULL` a committed message survives a
crash of the process and a power cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from messenger.core import protocol
from messenger.server import serialize, settings
from messenger.server.actions.events import Event, Pending, commit_and_emit, emit_all, emit_now
from messenger.server.actions.files import attach_upload
from messenger.server.db.models import (DeviceSession, Message, Reaction, Room, RoomEvent, RoomFile, RoomMember, User,
                                        utcnow)
from messenger.server.db.writer import GroupWriter
from messenger.server.errors import ApiError
from messenger.server.extensions import database
from messenger.server.socket_access import SocketCaller

Item = TypeVar("Item")
# A group writer's result for one item: its outcome first, e.g. ("stored", id, event) or ("refused", code).
Outcome = tuple[Any, ...]
# (sender, room, client_msg_id): what makes a message a repeat
Key = tuple[int, int, str | None]


def check_content(content: str, encrypted: bool) -> None:
    """The content rules shared by send and edit: not blank, within the limit for its kind,
    and sealed when the admin requires end-to-end encryption."""
    if not encrypted and settings.get("e2e_policy") == "required":
        raise ApiError("PLAINTEXT_MESSAGE_DISABLED")
    check_length(content, encrypted)


def check_length(content: str, encrypted: bool) -> None:
    """Not blank and within the limit for its kind (the rules that need no database)."""
    limit = protocol.MAX_CIPHERTEXT_CHARS if encrypted else protocol.MAX_PLAINTEXT_CHARS
    if len(content) > limit:
        raise ApiError("MESSAGE_TOO_LONG", detail=f"content: at most {limit} characters")
    if not content.strip():
        raise ApiError("VALIDATION_ERROR", detail="content: must not be empty")


def reply_target(room: Room, reply_to: int | None) -> Message | None:
    """The message being answered; it must be in the same room."""
    if reply_to is None:
        return None
    reply = database.session.get(Message, reply_to)
    if reply is None or reply.room_id != room.id:
        raise ApiError("REPLY_NOT_IN_ROOM")
    return reply


def _by_client_msg_id(sender: User | SocketCaller, room: Room, client_msg_id: str) -> Message | None:
    return database.session.scalar(select(Message).where(
        Message.sender_id == sender.id, Message.room_id == room.id, Message.client_msg_id == client_msg_id))


def do_send_message(sender: User | SocketCaller, room: Room, content: str, message_type: str, encrypted: bool,
                    reply: Message | None, client_msg_id: str | None,
                    upload_token: str | None = None) -> tuple[Message, bool]:
    """Store a message and broadcast `new_message` to the room (the sender's sockets included).

    Returns the message and whether it was a repeat: a `client_msg_id` the sender already
    used in this room gives back the first message, changes nothing and broadcasts nothing.
    """
    message = Message(room_id=room.id, sender_id=sender.id, content=content, encrypted=encrypted,
                      message_type=message_type, client_msg_id=client_msg_id,
                      reply_to=reply.id if reply else None)
    database.session.add(message)
    try:
        database.session.flush()
    except IntegrityError:
        # The unique index refused a client_msg_id used before (or by a racing socket): no
        # look-up runs before the insert, only after a refusal.
        database.session.rollback()
        first = _by_client_msg_id(sender, room, client_msg_id) if client_msg_id is not None else None
        if first is None:
            raise
        return first, True
    if message_type != "text":
        # The token is consumed in this transaction: a refused one rolls the message back too.
        attach_upload(sender, room.id, message_type, upload_token, message)
    pending = Pending()
    reply_sender = database.session.get(User, reply.sender_id) if reply else None
    pending.add(protocol.NEW_MESSAGE, serialize.message(message, sender, reply, reply_sender), room_id=room.id)
    commit_and_emit(pending)
    return message, False


@dataclass
class OutgoingText:
    """A text message for the group writer. The sign-in, the membership and the e2e policy are
    checked in the transaction that stores it, so a revoke or a kick committed anywhere (another
    process, the admin CLI) refuses the very next message, at no extra round trip per message."""

    sender_id: int
    device_session_id: int | None  # None: a browser socket (its cookie is checked at connect)
    room_id: int
    content: str
    encrypted: bool
    client_msg_id: str | None
    reply: Message | None = None  # already found in the same room
    reply_sender: User | None = None


def do_send_text(message: OutgoingText) -> tuple[int, bool]:
    """Store a text message and broadcast `new_message` to the room (the sender's sockets
    included); returns its id and whether it was a repeat (a `client_msg_id` the sender already
    used in this room gives back the first message's id, stores and broadcasts nothing).

    Returns once the transaction holding the message has committed; a failed commit is
    INTERNAL_ERROR, with nothing stored and nothing broadcast (the client resends).
    """
    outcome, value = _written(text_writer, message)
    return value, outcome == "duplicate"


def _written(writer: GroupWriter[Item, Outcome], item: Item) -> tuple[str, Any]:
    """The outcome of a group writer's item and its id once committed; a refusal is its
    ApiError, a failed commit INTERNAL_ERROR (nothing of its batch stored)."""
    try:
        outcome, value, *more = writer.submit(item)
    except SQLAlchemyError:
        raise ApiError("INTERNAL_ERROR") from None
    if outcome == "refused":
        raise ApiError(value, detail=more[0] if more else None)
    return outcome, value


# Built once: the writer runs them for every batch, and building and keying a statement
# costs as much as running it on SQLite.
_MEMBERS = (select(RoomMember.room_id, RoomMember.user_id, User.nickname)
            .join(User, User.id == RoomMember.user_id)
            .where(RoomMember.room_id.in_(bindparam("room_ids", expanding=True)))
            .where(RoomMember.user_id.in_(bindparam("user_ids", expanding=True)))
            .where(User.disabled_at.is_(None))
            .where(User.deleted_at.is_(None)))
_ACTIVE_USERS = (select(User.id)
                 .where(User.id.in_(bindparam("user_ids", expanding=True)))
                 .where(User.disabled_at.is_(None))
                 .where(User.deleted_at.is_(None)))
_LIVE_DEVICES = (select(DeviceSession.id)
                 .where(DeviceSession.id.in_(bindparam("device_ids", expanding=True)))
                 .where(DeviceSession.revoked_at.is_(None))
                 .where(DeviceSession.expires_at > bindparam("now", type_=DeviceSession.expires_at.type)))
# Repeats are recognised forever: the unique index (sender, room, client_msg_id) refuses the
# second row, in this process or any other, and only then is the first one looked up.
_FIRST_IDS = (select(Message.id, Message.sender_id, Message.room_id, Message.client_msg_id)
              .where(Message.sender_id.in_(bindparam("user_ids", expanding=True)))
              .where(Message.room_id.in_(bindparam("room_ids", expanding=True)))
              .where(Message.client_msg_id.in_(bindparam("keys", expanding=True))))
_MESSAGE_KEY = ["sender_id", "room_id", "client_msg_id"]
_INSERT_KEYED = {dialect: module.insert(Message).on_conflict_do_nothing(index_elements=_MESSAGE_KEY)
                 .returning(Message.id, Message.sender_id, Message.room_id, Message.client_msg_id)
                 for dialect, module in (("sqlite", sqlite), ("postgresql", postgresql))}
_INSERT_MESSAGES = insert(Message).returning(Message.id, sort_by_parameter_order=True)
_INSERT_EVENTS = insert(RoomEvent).returning(RoomEvent.id, sort_by_parameter_order=True)


def _key(m: OutgoingText) -> Key:
    return m.sender_id, m.room_id, m.client_msg_id


def _store_texts(connection: Connection, batch: list[OutgoingText]) -> list[Outcome]:
    """The writer's transaction: a handful of statements for the whole batch, not per message.

    Each result is ("stored", id, event), ("duplicate", first id) or ("refused", error code).
    """
    now = utcnow()
    sender_ids = list({m.sender_id for m in batch})
    room_ids = list({m.room_id for m in batch})
    device_ids = list({m.device_session_id for m in batch if m.device_session_id is not None})
    # (room, sender) -> the sender's row, for members with an active account
    members = {(row.room_id, row.user_id): row
               for row in connection.execute(_MEMBERS, {"room_ids": room_ids, "user_ids": sender_ids})}
    live_devices = set(connection.scalars(_LIVE_DEVICES, {"device_ids": device_ids, "now": now})) \
        if device_ids else set()
    if len({user_id for _, user_id in members}) < len(sender_ids):  # someone refused: by account or room?
        active = set(connection.scalars(_ACTIVE_USERS, {"user_ids": sender_ids}))
    else:
        active = set(sender_ids)
    plaintext_ok = all(m.encrypted for m in batch) or settings.read(connection, "e2e_policy") != "required"

    results: list[Any] = [None] * len(batch)  # every position gets its Outcome below
    keyed: dict[Key, int] = {}  # (sender, room, client_msg_id) -> position of the one to store
    plain: list[int] = []  # positions of messages without a client_msg_id
    repeats: dict[int, Key] = {}  # position -> key of a message before it in this batch
    for position, m in enumerate(batch):
        key = _key(m)
        if m.sender_id not in active or (m.device_session_id is not None
                                         and m.device_session_id not in live_devices):
            results[position] = ("refused", "AUTH_TOKEN_INVALID_OR_EXPIRED")
        elif (m.room_id, m.sender_id) not in members:
            results[position] = ("refused", "ROOM_NOT_FOUND")
        elif not m.encrypted and not plaintext_ok:
            results[position] = ("refused", "PLAINTEXT_MESSAGE_DISABLED")
        elif m.client_msg_id is None:
            plain.append(position)
        elif key in keyed:
            repeats[position] = key
        else:
            keyed[key] = position

    def row(m: OutgoingText) -> dict[str, Any]:
        return {"room_id": m.room_id, "sender_id": m.sender_id, "content": m.content, "encrypted": m.encrypted,
                "message_type": "text", "client_msg_id": m.client_msg_id,
                "reply_to": m.reply.id if m.reply else None, "created_at": now}

    ids: dict[int, int] = {}  # position -> new message id
    # In runs of batch order, so a sender's ids follow the order its messages came in.
    for with_key, group in groupby(sorted([*keyed.values(), *plain]), key=lambda p: batch[p].client_msg_id is not None):
        run = list(group)
        if not with_key:
            ids.update(zip(run, connection.execute(_INSERT_MESSAGES, [row(batch[p]) for p in run]).scalars()))
            continue
        stored = {(r.sender_id, r.room_id, r.client_msg_id): r.id for r in connection.execute(
            _INSERT_KEYED[connection.dialect.name], [row(batch[p]) for p in run])}
        ids.update((p, stored[key]) for p in run if (key := _key(batch[p])) in stored)
        taken = [_key(batch[p]) for p in run if p not in ids]
        if taken:  # sent before (or by a racing process that committed first): the first one's id
            first_ids = {(r.sender_id, r.room_id, r.client_msg_id): r.id for r in connection.execute(
                _FIRST_IDS, {"user_ids": list({k[0] for k in taken}), "room_ids": list({k[1] for k in taken}),
                             "keys": list({k[2] for k in taken})})}
            for key in taken:
                results[keyed[key]] = ("duplicate", first_ids[key])
    fresh = sorted(ids)  # batch order, so ids and events follow the order the messages came in
    payloads = []
    for position in fresh:
        m = batch[position]
        message = Message(id=ids[position], **row(m))
        payloads.append(serialize.message(message, members[(m.room_id, m.sender_id)], m.reply, m.reply_sender))
    if payloads:
        event_ids = connection.execute(
            _INSERT_EVENTS,
            [{"name": protocol.NEW_MESSAGE, "room_id": p["room_id"], "user_id": None, "payload": p,
              "created_at": now} for p in payloads]).scalars().all()
        for position, payload, event_id in zip(fresh, payloads, event_ids):
            payload["event_id"] = event_id
            results[position] = ("stored", payload["id"], Event(protocol.NEW_MESSAGE, payload, room_id=payload["room_id"]))
    for position, key in repeats.items():
        results[position] = ("duplicate", results[keyed[key]][1])
    return results


def _emit_changes(batch: list[Any], results: list[Outcome]) -> None:
    """After a group writer's commit, in batch order: the event of each item that changed
    something ("stored" or "moved", whose third part is its Event)."""
    emit_all(Pending([result[2] for result in results if result[0] in ("stored", "moved")]))


text_writer = GroupWriter(_store_texts, _emit_changes)


@dataclass
class ReadMark:
    """A reader's mark to move, for the group writer (the socket's membership is known)."""

    user_id: int
    room_id: int
    message_id: int


def do_mark_read(mark: ReadMark) -> tuple[int, bool]:
    """Move the reader's mark forward to the message and broadcast `read_updated`.

    Returns the reader's mark afterwards and whether it moved; a mark never moves back,
    and a mark that does not move broadcasts nothing. MESSAGE_NOT_FOUND for a message not
    in the room. Like a send, it goes through a group writer: many marks share one commit,
    off the event loop.
    """
    outcome, value = _written(read_writer, mark)
    return value, outcome == "moved"


_MESSAGE_ROOMS = select(Message.id, Message.room_id).where(Message.id.in_(bindparam("ids", expanding=True)))
_MOVE_MARK = (update(RoomMember)
              .where(RoomMember.room_id == bindparam("r"), RoomMember.user_id == bindparam("u"),
                     RoomMember.last_read_message_id < bindparam("m"))
              .values(last_read_message_id=bindparam("m")))
_MARKS = (select(RoomMember.room_id, RoomMember.user_id, RoomMember.last_read_message_id)
          .where(RoomMember.room_id.in_(bindparam("room_ids", expanding=True)))
          .where(RoomMember.user_id.in_(bindparam("user_ids", expanding=True))))


def _store_marks(connection: Connection, batch: list[ReadMark]) -> list[Outcome]:
    """The writer's transaction for read marks: ("moved", mark, event), ("kept", mark) or
    ("refused", error code) each."""
    rooms = dict(connection.execute(_MESSAGE_ROOMS, {"ids": list({m.message_id for m in batch})}).all())
    results: list[Any] = [None] * len(batch)  # None: neither moved nor refused yet
    moved: list[int] = []
    for position, m in enumerate(batch):
        if rooms.get(m.message_id) != m.room_id:
            results[position] = ("refused", "MESSAGE_NOT_FOUND")
        elif connection.execute(_MOVE_MARK, {"r": m.room_id, "u": m.user_id, "m": m.message_id}).rowcount:
            moved.append(position)
    if moved:
        payloads = [{"room_id": batch[p].room_id, "user_id": batch[p].user_id, "message_id": batch[p].message_id}
                    for p in moved]
        event_ids = connection.execute(
            _INSERT_EVENTS, [{"name": protocol.READ_UPDATED, "room_id": p["room_id"], "user_id": None, "payload": p,
                              "created_at": utcnow()} for p in payloads]).scalars().all()
        for position, payload, event_id in zip(moved, payloads, event_ids):
            results[position] = ("moved", payload["message_id"],
                                 Event(protocol.READ_UPDATED, {**payload, "event_id": event_id},
                                       room_id=payload["room_id"]))
    kept = [p for p, result in enumerate(results) if result is None]
    if kept:
        marks = {(row.room_id, row.user_id): row.last_read_message_id for row in connection.execute(
            _MARKS, {"room_ids": list({batch[p].room_id for p in kept}),
                     "user_ids": list({batch[p].user_id for p in kept})})}
        for position in kept:
            mark = marks.get((batch[position].room_id, batch[position].user_id))
            results[position] = ("refused", "ROOM_NOT_FOUND") if mark is None else ("kept", mark)
    return results


read_writer = GroupWriter(_store_marks, _emit_changes)


def do_typing(user: SocketCaller, room_id: int, is_typing: bool, sid: str | None) -> bool:
    """Tell the room's other sockets that `user` is (not) typing; returns False if throttled.

    Typing is ephemeral: nothing is stored and a client that was away does not replay it.
    """
    window = current_app.config["MESSENGER"].typing_throttle_seconds
    if not current_app.extensions["typing_throttle"].allow(user.id, room_id, is_typing, window):
        return False
    emit_now(protocol.USER_TYPING, {"room_id": room_id, "user_id": user.id, "nickname": user.nickname,
                                    "is_typing": is_typing}, room_id=room_id, skip_sid=sid)
    return True


@dataclass
class MessageChange:
    """An edit (`content` given) or a soft delete of a message, for the group writer. Who may
    is checked on the loop (`access_own_message`, a room admin's file take-down); that it is
    still live, in the transaction: a delete committed meanwhile refuses it."""

    message_id: int
    room_id: int
    content: str | None = None  # None: a delete
    encrypted: bool = False
    room_file_id: int | None = None  # a delete that takes the message's file down with it


def do_edit_message(message: Message, content: str, encrypted: bool) -> dict[str, Any]:
    """Replace a message's content and broadcast `message_edited`; returns the event payload."""
    if message.message_type != "text":
        raise ApiError("MESSAGE_TYPE_NOT_ALLOWED", detail="only text messages can be edited")
    payload: dict[str, Any]
    _, payload = _written(change_writer, MessageChange(message.id, message.room_id, content, encrypted))
    return payload


def do_delete_message(message: Message, room_file_id: int | None = None) -> dict[str, Any]:
    """Soft delete: the row stays (replies and read marks point at it), its content and
    reactions go (and its file, `room_file_id`, in the same transaction); broadcasts
    `message_deleted` and returns its payload."""
    payload: dict[str, Any]
    _, payload = _written(change_writer, MessageChange(message.id, message.room_id,
                                                       room_file_id=room_file_id))
    return payload


_LIVE_MESSAGE = (Message.id == bindparam("m"), Message.deleted_at.is_(None))
_EDIT = update(Message).where(*_LIVE_MESSAGE).values(
    content=bindparam("text"), encrypted=bindparam("sealed"), edited_at=bindparam("now"))
_DELETE = update(Message).where(*_LIVE_MESSAGE).values(content="", deleted_at=bindparam("now"))
_DELETE_REACTIONS = delete(Reaction).where(Reaction.message_id == bindparam("m"))
_DELETE_FILE = update(RoomFile).where(RoomFile.id == bindparam("file")).values(deleted_at=bindparam("now"))


def _store_changes(connection: Connection, batch: list[MessageChange]) -> list[Outcome]:
    """The writer's transaction for edits and deletes: ("stored", payload, event) or
    ("refused", "MESSAGE_DELETED") each (rare, so a statement or two per change)."""
    now = utcnow()
    results: list[Outcome] = []
    events: list[dict[str, Any]] = []
    for change in batch:
        keys = {"m": change.message_id, "now": now}
        if change.content is not None:
            name, done = protocol.MESSAGE_EDITED, connection.execute(
                _EDIT, {**keys, "text": change.content, "sealed": change.encrypted}).rowcount
            payload = {"message_id": change.message_id, "room_id": change.room_id, "content": change.content,
                       "encrypted": change.encrypted, "edited_at": serialize.iso(now)}
        else:
            name, done = protocol.MESSAGE_DELETED, connection.execute(_DELETE, keys).rowcount
            payload = {"message_id": change.message_id, "room_id": change.room_id}
            if done:
                connection.execute(_DELETE_REACTIONS, keys)
                if change.room_file_id is not None:
                    connection.execute(_DELETE_FILE, {"file": change.room_file_id, "now": now})
        if not done:
            results.append(("refused", "MESSAGE_DELETED"))
            continue
        events.append({"name": name, "room_id": change.room_id, "user_id": None, "payload": payload,
                       "created_at": now})
        results.append(("stored", payload, Event(name, payload, room_id=change.room_id)))
    if events:
        event_ids = iter(connection.execute(_INSERT_EVENTS, events).scalars().all())
        for result in results:
            if result[0] == "stored":
                result[1]["event_id"] = next(event_ids)
    return results


change_writer = GroupWriter(_store_changes, _emit_changes)


def reaction_rows(message_ids: list[int]) -> list[Reaction]:
    """The reactions on some messages in one query, oldest first (so emojis keep their order)."""
    if not message_ids:
        return []
    return list(database.session.scalars(
        select(Reaction).where(Reaction.message_id.in_(message_ids)).order_by(Reaction.id)))


@dataclass
class ReactionToggle:
    """One person's emoji on a message, added or taken back, for the group writer."""

    user_id: int
    message_id: int
    room_id: int
    emoji: str


def do_toggle_reaction(user: User, message: Message, emoji: str) -> tuple[bool, list[dict[str, Any]]]:
    """Add the caller's `emoji` to the message, or take it away if it is there; broadcasts
    `reaction_updated` with the message's reactions. Returns (added, reactions seen by `user`)."""
    if message.deleted_at is not None:
        raise ApiError("MESSAGE_DELETED")
    _, (added, reactions) = _written(reaction_writer, ReactionToggle(user.id, message.id, message.room_id, emoji))
    return added, reactions


_IS_DELETED = select(Message.deleted_at.is_not(None)).where(Message.id == bindparam("m"))
_TAKE_BACK = delete(Reaction).where(Reaction.message_id == bindparam("m"), Reaction.user_id == bindparam("u"),
                                    Reaction.emoji == bindparam("e"))
_KINDS = select(Reaction.emoji).where(Reaction.message_id == bindparam("m")).distinct()
_ADD_REACTION = insert(Reaction).values(message_id=bindparam("m"), user_id=bindparam("u"), emoji=bindparam("e"))
_REACTIONS = (select(Reaction.emoji, Reaction.user_id).where(Reaction.message_id == bindparam("m"))
              .order_by(Reaction.id))


def _store_reactions(connection: Connection, batch: list[ReactionToggle]) -> list[Outcome]:
    """The writer's transaction for reactions: ("stored", (added, reactions seen by the
    person), event) or ("refused", code[, detail]) each."""
    results: list[Outcome] = []
    for toggle in batch:
        keys = {"m": toggle.message_id, "u": toggle.user_id, "e": toggle.emoji}
        if connection.scalar(_IS_DELETED, keys):  # deleted since the caller's look
            results.append(("refused", "MESSAGE_DELETED"))
            continue
        removed = connection.execute(_TAKE_BACK, keys).rowcount
        if not removed:
            kinds = set(connection.scalars(_KINDS, keys))
            if toggle.emoji not in kinds and len(kinds) >= protocol.MAX_REACTION_KINDS:
                results.append(("refused", "VALIDATION_ERROR", f"emoji: a message has at most "
                                 f"{protocol.MAX_REACTION_KINDS} different reactions"))
                continue
            connection.execute(_ADD_REACTION, keys)
        rows = connection.execute(_REACTIONS, keys).all()
        payload = {"message_id": toggle.message_id, "room_id": toggle.room_id, "reactions": serialize.reactions(rows)}
        payload["event_id"] = connection.execute(_INSERT_EVENTS, [
            {"name": protocol.REACTION_UPDATED, "room_id": toggle.room_id, "user_id": None, "payload": payload,
             "created_at": utcnow()}]).scalar_one()
        results.append(("stored", (not removed, serialize.reactions(rows, toggle.user_id)),
                        Event(protocol.REACTION_UPDATED, payload, room_id=toggle.room_id)))
    return results


reaction_writer = GroupWriter(_store_reactions, _emit_changes)
