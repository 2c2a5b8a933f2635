"""The open room's messages as a Qt list model: fed from the server's pages and live events
and from the outbox, every text read through `MessageText`. It only holds and orders data:
the delegates paint it, the main window decides what to load."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Iterable

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt

from messenger.client.i18n import language, tr
from messenger.client.services.messages import ContentState
from messenger.client.services.outbox import OutboxState, OutgoingMessage
from messenger.client.ui.message_text import MessageText
from messenger.core.errors import localized
from messenger.core.names import shown_name
from messenger.client.ui.models import ITEM_ROLE, ModelIndex, local_time, mentions


# -- messages -----------------------------------------------------------------------------------

@dataclasses.dataclass
class ChatItem:
    """One bubble: a stored message, or one of ours the outbox has not delivered yet."""

    room_id: int
    sender_id: int
    sender_name: str
    text: str
    created_at: datetime
    own: bool
    message_type: str = "text"
    message_id: int | None = None  # None until the server has it
    client_msg_id: str | None = None
    outbox_id: int | None = None
    state: str | None = None  # pending | sent | failed, for messages sent from this device
    error_code: str | None = None
    edited: bool = False
    deleted: bool = False
    reply: dict | None = None  # {"sender_name", "text", "deleted"}
    reactions: list[dict] = dataclasses.field(default_factory=list)  # {"emoji", "count", "me"}
    unread_by: int = 0  # members other than the sender who have not read it yet
    file: dict | None = None  # a file or image message's {"id", "name", "size", "key"} (files.py downloads it)
    uploading: int | None = None  # percent of an outbox file's blob uploaded in the attempt under way
    source: dict | None = None  # the stored message as the server gave it: read again when keys change
    reply_source: dict | None = None  # the server's preview of the quoted message, likewise
    unreadable: bool = False  # not shown (waiting for keys, no key here, ...): read again when keys change
    # Shown, but not end-to-end encrypted: the server could have written it (E2E_NOT_ENCRYPTED).
    not_encrypted: bool = False
    # Readable.mark: also "not signed" (v3) and "old format" (v1/v2); for a message not shown
    # because it was tampered with, its code (replayed, misattributed, reordered, ...)
    mark: str | None = None
    mentions_me: bool = False  # someone else's message naming me (@username or @nickname)
    new_divider: bool = False  # the first unread message when the room opened: "New messages" above it


class ChatModel(QAbstractListModel):
    """The open room: stored messages by id, then ours still on their way, in outbox order."""

    def __init__(self, me: dict, text: MessageText, parent=None):
        super().__init__(parent)
        self.me = me
        self.text = text
        self.room_id: int | None = None
        self.has_more = False  # older history exists on the server
        self._items: list[ChatItem] = []
        self._read_marks: dict[int, int] = {}  # member id -> last read message id

    # -- Qt -------------------------------------------------------------------------------------

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == ITEM_ROLE:
            return item
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return item.text
        if role == Qt.ItemDataRole.ToolTipRole and item.state == "failed" and item.error_code:
            return localized(item.error_code, language())  # why it was not sent
        return None

    # -- reading ----------------------------------------------------------------------------

    def item(self, row: int) -> ChatItem:
        return self._items[row]

    def items(self) -> list[ChatItem]:
        return list(self._items)

    def oldest_id(self) -> int | None:
        return next((item.message_id for item in self._items if item.message_id is not None), None)

    def newest_id(self) -> int | None:
        """The newest stored message (what a read mark points at)."""
        return max((item.message_id for item in self._items if item.message_id is not None), default=None)

    # -- whole pages ----------------------------------------------------------------------------

    def open(self, room_id: int, page: dict, outgoing: Iterable[OutgoingMessage] = ()) -> None:
        """Show a room: its newest page of history, then what the outbox still holds for it."""
        self.beginResetModel()
        self.room_id = room_id
        self.has_more = bool(page.get("has_more"))
        self._read_marks = {m["id"]: m.get("last_read_message_id") or 0 for m in page.get("members") or ()}
        self._items = [self._from_server(message) for message in page.get("messages", ())]
        my_mark = self._read_marks.get(self.me["id"], 0)
        first_unread = next((item for item in self._items if not item.own and not item.deleted
                             and item.message_id > my_mark), None)
        # When the whole page is unread and older history exists, the first unread one is
        # further back: no divider rather than a wrong one.
        if first_unread is not None and not (self.has_more and first_unread is self._items[0]):
            first_unread.new_divider = True
        known = {item.client_msg_id for item in self._items if item.client_msg_id}
        self._items += [self._from_outbox(out) for out in outgoing
                        if out.room_id == room_id and out.client_msg_id not in known]
        self._count_readers(self._items)
        self.endResetModel()

    def close(self) -> None:
        self.beginResetModel()
        self.room_id = None
        self.has_more = False
        self._items = []
        self._read_marks = {}
        self.endResetModel()

    def prepend(self, page: dict) -> int:
        """Older history (scrolling up); returns how many rows were added at the top."""
        present = {item.message_id for item in self._items}
        older = [self._from_server(m) for m in page.get("messages", ()) if m["id"] not in present]
        self.has_more = bool(page.get("has_more"))
        if older:
            self._count_readers(older)
            self.beginInsertRows(QModelIndex(), 0, len(older) - 1)
            self._items[:0] = older
            self.endInsertRows()
        return len(older)

    # -- live changes ---------------------------------------------------------------------------

    def add_message(self, message: dict) -> None:
        """A `new_message` for this room: added in id order, or merged with our own bubble
        (the outbox's copy of it, matched by client_msg_id)."""
        row = self.row_of_message(message["id"])
        if row is None and message.get("client_msg_id") and message.get("sender_id") == self.me["id"]:
            row = self._row_of(lambda i: i.client_msg_id == message["client_msg_id"])
        fresh = self._from_server(message)
        self._count_readers([fresh])
        if row is not None:
            old = self._items[row]
            fresh.outbox_id, fresh.state = old.outbox_id, old.state if old.state != "pending" else "sent"
            if old.message_id is None:
                # The outbox copy sat in the tail; the stored message goes in id order.
                self._remove_row(row)
                self._insert_stored(fresh)
            else:
                self._items[row] = fresh
                self._changed(row)
            return
        self._insert_stored(fresh)

    def apply_outgoing(self, out: OutgoingMessage) -> None:
        """The outbox changed one of our messages: show it pending, sent, failed or gone."""
        if out.room_id != self.room_id:
            return
        row = self._row_of(lambda i: i.client_msg_id == out.client_msg_id)
        if out.state is OutboxState.DISCARDED:
            if row is not None and self._items[row].message_id is None:
                self._remove_row(row)
            return
        if row is None:
            if out.state is not OutboxState.SENT:
                self.beginInsertRows(QModelIndex(), len(self._items), len(self._items))
                self._items.append(self._from_outbox(out))
                self.endInsertRows()
            return
        item = self._items[row]
        item.outbox_id, item.state, item.error_code = out.id, out.state.value, out.error_code
        item.uploading = None
        if out.state is OutboxState.SENT and item.message_id is None:
            item.message_id = out.message_id
            self._count_readers([item])
            # Now stored: it belongs with the stored messages, in id order.
            self._remove_row(row)
            self._insert_stored(item)
            return
        self._changed(row)

    def set_upload_progress(self, out: OutgoingMessage, percent: int) -> None:
        """An outbox file of this room is being uploaded: `percent` of it is up."""
        row = self._row_of(lambda i: i.client_msg_id == out.client_msg_id)
        if out.room_id == self.room_id and row is not None and self._items[row].state == "pending":
            self._items[row].uploading = percent
            self._changed(row)

    def edit(self, message_id: int, content: str, encrypted: bool) -> None:
        row = self.row_of_message(message_id)
        if row is not None:
            item = self._items[row]
            item.source = {**(item.source or {"message_type": item.message_type}), "content": content,
                           "encrypted": encrypted}
            self._read(item)
            item.edited = True
            self._changed(row)

    def reread(self, room_id: int) -> None:
        """The room's keys changed here: messages not shown may read now."""
        if room_id != self.room_id:
            return
        for row, item in enumerate(self._items):
            changed = item.unreadable and item.source is not None and not item.deleted
            if changed:
                self._read(item)
            if item.reply_source is not None and not item.reply["deleted"]:
                quoted = self.text.of(room_id, item.reply_source)
                if quoted != item.reply["text"]:
                    item.reply, changed = {**item.reply, "text": quoted}, True
            if changed:
                self._changed(row)

    def new_divider_row(self) -> int | None:
        """The row of the first message that was unread when the room opened."""
        return self._row_of(lambda item: item.new_divider)

    def delete(self, message_id: int) -> None:
        row = self.row_of_message(message_id)
        if row is not None:
            item = self._items[row]
            item.deleted, item.text, item.reactions = True, tr("message.deleted"), []
            self._changed(row)
        # Quotes of it show it deleted too.
        for other_row, other in enumerate(self._items):
            if other.reply and other.reply.get("id") == message_id:
                other.reply = {**other.reply, "deleted": True, "text": tr("message.deleted")}
                self._changed(other_row)

    def set_reactions(self, message_id: int, reactions: list[dict]) -> None:
        row = self.row_of_message(message_id)
        if row is not None:
            self._items[row].reactions = self._reactions(reactions)
            self._changed(row)

    def set_read_mark(self, user_id: int, message_id: int) -> None:
        """A member read up to `message_id`: the "unread by" counts go down."""
        if self._read_marks.get(user_id, 0) >= message_id:
            return
        self._read_marks[user_id] = message_id
        self._count_readers(self._items)
        if self._items:
            self.dataChanged.emit(self.index(0), self.index(len(self._items) - 1))

    def member_ids(self) -> set[int]:
        """The open room's members (as its page and membership events listed them)."""
        return set(self._read_marks)

    def set_members(self, members: Iterable[dict]) -> None:
        """The room's members changed: new ones start with their read mark, leavers count no more."""
        self._read_marks = {m["id"]: m.get("last_read_message_id") or 0 for m in members}
        self._count_readers(self._items)
        if self._items:
            self.dataChanged.emit(self.index(0), self.index(len(self._items) - 1))

    # -- inside -----------------------------------------------------------------------------------

    def _read(self, item: ChatItem) -> None:
        """Text, file and mention of a stored message, as this device reads its source now."""
        readable = self.text.read(item.room_id, item.source)
        item.text = self.text.words(readable, item.message_type)
        item.unreadable = not readable.shown
        item.not_encrypted = readable.state is ContentState.NOT_ENCRYPTED and item.message_type != "system"
        tampered = readable.error_code if readable.state is ContentState.TAMPERED else None
        item.mark = readable.mark or tampered if item.message_type != "system" else None
        shared = readable.file if readable.shown else None
        file_id = item.source.get("file_id")
        item.file = {"id": file_id, "name": shared.name, "size": shared.size if shared.size is not None
                     else item.source.get("file_size"), "key": shared.file_key} if file_id and shared else None
        item.mentions_me = not item.own and readable.shown and mentions(item.text, self.me)

    def _from_server(self, message: dict) -> ChatItem:
        deleted = bool(message.get("deleted"))
        reply = message.get("reply_preview")
        item = ChatItem(
            room_id=message["room_id"], sender_id=message.get("sender_id") or 0,
            sender_name=shown_name(message.get("sender_name") or "") or tr("message.unknown_sender"),
            text=tr("message.deleted") if deleted else "",
            created_at=local_time(message.get("created_at")) or datetime.now().astimezone(),
            own=message.get("sender_id") == self.me["id"], message_type=message.get("message_type") or "text",
            message_id=message["id"], client_msg_id=message.get("client_msg_id"),
            edited=bool(message.get("edited_at")), deleted=deleted,
            reply=None if reply is None else {
                "id": reply.get("id"),
                "sender_name": shown_name(reply.get("sender_name") or "") or tr("message.unknown_sender"),
                "deleted": bool(reply.get("deleted")),
                "text": tr("message.deleted") if reply.get("deleted") else self.text.of(message["room_id"], reply)},
            reactions=self._reactions(message.get("reactions") or ()), source=message, reply_source=reply)
        if not deleted:
            self._read(item)
        return item

    def _from_outbox(self, out: OutgoingMessage) -> ChatItem:
        reply = None
        if out.reply_to is not None:
            row = self.row_of_message(out.reply_to)
            if row is not None:
                quoted = self._items[row]
                reply = {"id": quoted.message_id, "sender_name": quoted.sender_name, "text": quoted.text,
                         "deleted": quoted.deleted}
        copy = out.attachment
        if copy is not None:  # a file: its name, until the stored message brings the file
            text = tr("message.image" if out.message_type == "image" else "message.file", name=copy["name"])
        elif out.encrypted:  # kept here as the plaintext it will be sealed from
            text = out.content
        else:
            text = self.text.show(out.room_id, out.content, False, out.message_type)
        return ChatItem(
            room_id=out.room_id, sender_id=self.me["id"], sender_name=self.me.get("nickname") or "",
            text=text,
            created_at=datetime.fromtimestamp(out.created_at).astimezone(), own=True,
            message_type=out.message_type, message_id=out.message_id, client_msg_id=out.client_msg_id,
            outbox_id=out.id, state=out.state.value, error_code=out.error_code, reply=reply)

    def _reactions(self, reactions: Iterable[dict]) -> list[dict]:
        return [{"emoji": r["emoji"], "count": r.get("count") or len(r.get("user_ids") or ()),
                 "me": r["me"] if "me" in r else self.me["id"] in (r.get("user_ids") or ())} for r in reactions]

    def _count_readers(self, items: Iterable[ChatItem]) -> None:
        for item in items:
            if item.message_id is None or item.deleted:
                item.unread_by = 0
                continue
            item.unread_by = sum(1 for user_id, mark in self._read_marks.items()
                                 if user_id != item.sender_id and mark < item.message_id)

    def _row_of(self, matches) -> int | None:
        for row, item in enumerate(self._items):
            if matches(item):
                return row
        return None

    def row_of_message(self, message_id: int | None) -> int | None:
        if message_id is None:
            return None
        return self._row_of(lambda item: item.message_id == message_id)

    def _insert_stored(self, item: ChatItem) -> None:
        """Insert a stored message after every stored message with a smaller id and before
        the outbox's tail (ours, not delivered yet)."""
        position = len(self._items)
        while position > 0 and (self._items[position - 1].message_id is None
                                or self._items[position - 1].message_id > item.message_id):
            position -= 1
        self.beginInsertRows(QModelIndex(), position, position)
        self._items.insert(position, item)
        self.endInsertRows()

    def _remove_row(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._items[row]
        self.endRemoveRows()

    def _changed(self, row: int) -> None:
        index = self.index(row)
        self.dataChanged.emit(index, index)
