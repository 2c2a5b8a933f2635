"""A room's files (contract section 5): the list, and deleting one from its room.

Apart from actions/files.py (uploads), which the message path imports to attach an upload.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from messenger.server.actions.files import stored_path
from messenger.server.actions.messages import do_delete_message
from messenger.server.db.models import Message, RoomFile, User
from messenger.server.extensions import database
from messenger.server.serialize import file_url, iso


def file_payload(room_file: RoomFile, uploader: User | None) -> dict[str, Any]:
    return {"id": room_file.id, "room_id": room_file.room_id, "message_id": room_file.message_id,
            "file_name": room_file.file_name, "file_size": room_file.file_size, "file_type": room_file.file_type,
            "encrypted": bool(room_file.encrypted), "uploaded_by": room_file.uploaded_by,
            "uploader_name": uploader.nickname if uploader else None, "uploaded_at": iso(room_file.uploaded_at),
            "url": file_url(room_file.id)}


def room_files(room_id: int, file_type: str | None, before_id: int | None, limit: int) -> list[dict[str, Any]]:
    """A room's live files, newest first."""
    query = (select(RoomFile, User).join(Message, Message.id == RoomFile.message_id)
             .outerjoin(User, User.id == RoomFile.uploaded_by)
             .where(RoomFile.room_id == room_id, RoomFile.deleted_at.is_(None), Message.deleted_at.is_(None)))
    if file_type is not None:
        query = query.where(RoomFile.file_type == file_type)
    if before_id is not None:
        query = query.where(RoomFile.id < before_id)
    rows = database.session.execute(query.order_by(RoomFile.id.desc()).limit(limit))
    return [file_payload(room_file, uploader) for room_file, uploader in rows]


def do_delete_room_file(room_file: RoomFile, message: Message) -> dict[str, Any]:
    """Delete a file from its room: its message becomes a deleted message (the room gets
    `message_deleted`, so clients show a deleted file) and its bytes are removed."""
    path = stored_path(room_file.file_path)
    # The file row's change commits with the message's deletion, in one transaction.
    payload = do_delete_message(message, room_file.id)
    path.unlink(missing_ok=True)
    return {**payload, "file_id": room_file.id}
