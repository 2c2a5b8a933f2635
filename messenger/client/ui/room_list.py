"""The room list as a Qt list model: fed from the server's room summaries and live events,
every preview read through `MessageText`; the delegates paint it."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Iterable

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt, Signal

from messenger.client.i18n import tr
from messenger.client.ui.message_text import MessageText
from messenger.core.names import shown_name
from messenger.client.ui.models import ITEM_ROLE, ModelIndex, local_time


# -- rooms --------------------------------------------------------------------------------------

@dataclasses.dataclass
class RoomItem:
    room_id: int
    type: str  # direct | group
    title: str
    member_count: int
    created_at: datetime | None
    last_message_id: int = 0
    last_message_at: datetime | None = None
    preview: str = ""
    unread: int = 0
    pinned: bool = False
    muted: bool = False
    avatar_key: int = 0  # the partner's user id in a direct room, else the room id
    partner_id: int | None = None  # the other person of a direct room
    online: bool = False  # that person has the messenger open somewhere
    last_message: dict | None = None  # kept to read its preview again when keys arrive
    preview_unreadable: bool = False  # the preview says why it is not shown: read again when keys change

    def sort_key(self) -> tuple:
        """Pinned rooms first, then the most recently active."""
        moment = self.last_message_at or self.created_at
        return (not self.pinned, -(moment.timestamp() if moment else 0), -self.room_id)


class RoomListModel(QAbstractListModel):
    unread_total_changed = Signal(int)

    def __init__(self, me_id: int, text: MessageText, parent=None):
        super().__init__(parent)
        self.me_id = me_id
        self.text = text
        self._rooms: list[RoomItem] = []
        self._unread_total = 0

    # -- Qt -------------------------------------------------------------------------------------

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rooms)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rooms):
            return None
        room = self._rooms[index.row()]
        if role == ITEM_ROLE:
            return room
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return room.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return room.preview
        return None

    # -- reading ----------------------------------------------------------------------------

    def room(self, room_id: int) -> RoomItem | None:
        row = self.row_of(room_id)
        return None if row is None else self._rooms[row]

    def row_of(self, room_id: int) -> int | None:
        for row, room in enumerate(self._rooms):
            if room.room_id == room_id:
                return row
        return None

    def rooms(self) -> list[RoomItem]:
        return list(self._rooms)

    @property
    def unread_total(self) -> int:
        return self._unread_total

    # -- changes --------------------------------------------------------------------------------

    def reset(self, summaries: Iterable[dict]) -> None:
        """Replace the whole list with the server's (GET /api/rooms)."""
        self.beginResetModel()
        self._rooms = sorted((self._item(summary) for summary in summaries), key=RoomItem.sort_key)
        self.endResetModel()
        self._count_unread()

    def upsert(self, summary: dict) -> RoomItem:
        """Add a room, or refresh one from a newer summary (`room_updated`, room info)."""
        fresh = self._item(summary)
        row = self.row_of(fresh.room_id)
        if row is None:
            position = self._sorted_position(fresh)
            self.beginInsertRows(QModelIndex(), position, position)
            self._rooms.insert(position, fresh)
            self.endInsertRows()
        else:
            if "members" not in summary and fresh.type == "group" and not summary.get("name"):
                fresh.title = self._rooms[row].title  # keep the member names it was shown with
            self._rooms[row] = fresh
            self._changed(row)
        self._count_unread()
        return fresh

    def remove(self, room_id: int) -> None:
        row = self.row_of(room_id)
        if row is not None:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rooms[row]
            self.endRemoveRows()
            self._count_unread()

    def rename(self, room_id: int, name: str) -> None:
        row = self.row_of(room_id)
        if row is not None:
            self._rooms[row].title = shown_name(name)
            self._changed(row)

    def set_member_count(self, room_id: int, count: int) -> None:
        row = self.row_of(room_id)
        if row is not None:
            self._rooms[row].member_count = count
            self._changed(row)

    def on_new_message(self, message: dict, unread: bool) -> RoomItem | None:
        """A message arrived in one of the rooms: new preview and time, one more unread if
        `unread`. A message already counted (seen live, then in a reload) changes nothing."""
        row = self.row_of(message["room_id"])
        if row is None:
            return None
        room = self._rooms[row]
        if message["id"] <= room.last_message_id:
            return room
        room.last_message_id = message["id"]
        room.last_message_at = local_time(message.get("created_at")) or room.last_message_at
        room.last_message = message
        self._read_preview(room)
        if unread and message.get("sender_id") != self.me_id:
            room.unread += 1
        self._changed(row)
        self._count_unread()
        return room

    def on_message_deleted(self, room_id: int, message_id: int) -> None:
        room = self.room(room_id)
        if room is not None and room.last_message_id == message_id:
            room.preview = tr("message.deleted")
            self._changed(self.row_of(room_id))

    def on_message_edited(self, room_id: int, message_id: int, content: str, encrypted: bool) -> None:
        room = self.room(room_id)
        if room is not None and room.last_message_id == message_id:
            room.last_message = {**(room.last_message or {}), "content": content, "encrypted": encrypted}
            self._read_preview(room)
            self._changed(self.row_of(room_id))

    def reread(self, room_id: int) -> None:
        """The room's keys changed here: a preview not shown may read now."""
        room = self.room(room_id)
        if room is not None and room.preview_unreadable:
            self._read_preview(room)
            self._changed(self.row_of(room_id))

    def set_online(self, user_id: int, online: bool) -> None:
        """Someone came online or went offline: the dot of their direct room."""
        for row, room in enumerate(self._rooms):
            if room.partner_id == user_id and room.online != online:
                room.online = online
                index = self.index(row)
                self.dataChanged.emit(index, index)

    def set_read(self, room_id: int) -> None:
        row = self.row_of(room_id)
        if row is not None and self._rooms[row].unread:
            self._rooms[row].unread = 0
            self._changed(row)
            self._count_unread()

    # -- inside -----------------------------------------------------------------------------------

    def _read_preview(self, room: RoomItem) -> None:
        last = room.last_message
        if not last:
            room.preview, room.preview_unreadable = "", False
        elif last.get("deleted"):
            room.preview, room.preview_unreadable = tr("message.deleted"), False
        else:
            readable = self.text.read(room.room_id, last)
            room.preview = self.text.words(readable, last.get("message_type") or "text")
            room.preview_unreadable = not readable.shown

    def _item(self, summary: dict) -> RoomItem:
        room_id = summary["id"]
        last = summary.get("last_message")
        partner = summary.get("partner") or {}
        item = RoomItem(
            room_id=room_id, type=summary.get("type", "group"), title=self._title(summary),
            member_count=summary.get("member_count") or len(summary.get("members") or ()) or 1,
            created_at=local_time(summary.get("created_at")),
            last_message_id=(last or {}).get("id") or 0,
            last_message_at=local_time(summary.get("last_message_at")), last_message=last,
            unread=summary.get("unread_count") or 0, pinned=bool(summary.get("pinned")),
            muted=bool(summary.get("muted")),
            avatar_key=partner.get("id") or room_id, partner_id=partner.get("id"),
            online=partner.get("status") == "online")
        self._read_preview(item)
        return item

    def _title(self, summary: dict) -> str:
        """A group's name; a direct room's partner; an unnamed group's other members."""
        if summary.get("type") == "direct":
            partner = summary.get("partner")
            return shown_name(partner["nickname"]) if partner else tr("room.alone")
        if summary.get("name"):
            return shown_name(summary["name"])
        others = [shown_name(m["nickname"]) for m in summary.get("members") or () if m["id"] != self.me_id]
        return ", ".join(others) if others else tr("room.group")

    def _sorted_position(self, item: RoomItem, skip: int | None = None) -> int:
        key = item.sort_key()
        position = 0
        for row, other in enumerate(self._rooms):
            if row == skip:
                continue
            if other.sort_key() < key:
                position += 1
        return position

    def _changed(self, row: int) -> None:
        """Repaint a row and move it where the order now puts it."""
        index = self.index(row)
        self.dataChanged.emit(index, index)
        target = self._sorted_position(self._rooms[row], skip=row)
        if target != row:
            # Qt's destination is the row before which it lands, counted before the move.
            self.beginMoveRows(QModelIndex(), row, row, QModelIndex(), target + 1 if target > row else target)
            self._rooms.insert(target, self._rooms.pop(row))
            self.endMoveRows()

    def _count_unread(self) -> None:
        total = sum(room.unread for room in self._rooms if not room.muted)
        if total != self._unread_total:
            self._unread_total = total
            self.unread_total_changed.emit(total)
