"""Files sent in rooms (contract section 5): uploads, upload tokens and clean-up (a room's file
list and deleting a file from it: actions/room_files.py).

An upload is stored at once under a server-made name in DATA_DIR/uploads (a folder no
route serves as such: every download goes through the room's access check) and answered
with an upload token. The file becomes part of the room only when the uploader sends a
message carrying the token: `attach_upload` consumes the token and writes the file row in
that message's own transaction. Uploads never sent, and the bytes of deleted files, are
removed by `delete_orphan_uploads`; used and expired tokens by `purge_upload_tokens`.
"""

from __future__ import annotations

import os
import secrets
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, cast

from flask import current_app
from sqlalchemy import CursorResult, delete, func, or_, select, update

from messenger.server.db.models import Message, Room, RoomFile, UploadToken, User, utcnow
from messenger.server.errors import ApiError
from messenger.server.extensions import database
from messenger.server.offload import offload
from messenger.server.socket_access import SocketCaller
from messenger.server.tokens import hash_token, new_token

FILE_TYPES = ("file", "image")


def extension_of(file_name: str) -> str:
    stem, dot, extension = file_name.rpartition(".")
    return extension.lower() if dot and stem else ""


def upload_dir() -> Path:
    folder = Path(current_app.config["MESSENGER"].data_dir) / "uploads"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def stored_path(file_path: str) -> Path:
    """Where a file's bytes are; a stored name (v4 ones included) never leaves the folder."""
    folder = upload_dir()
    path = folder / file_path
    if path.parent != folder or file_path in ("", ".", ".."):
        raise ApiError("FILE_NOT_FOUND")
    return path


def token_life() -> timedelta:
    return timedelta(seconds=current_app.config["MESSENGER"].upload_token_seconds)


def bytes_stored(user_id: int) -> int:
    """What counts against a user's quota: their files still in rooms and their uploads
    still waiting to be sent."""
    in_rooms = database.session.execute(select(func.coalesce(func.sum(RoomFile.file_size), 0)).where(
        RoomFile.uploaded_by == user_id, RoomFile.deleted_at.is_(None))).scalar_one()
    waiting = database.session.execute(select(func.coalesce(func.sum(UploadToken.file_size), 0)).where(
        UploadToken.user_id == user_id, UploadToken.consumed_at.is_(None), UploadToken.expires_at > utcnow())).scalar_one()
    return in_rooms + waiting


def _write_file(path: Path, stream: IO[bytes]) -> None:
    """Copy the upload to `path` (owner-only), on disk before the token is handed out."""
    tmp = path.with_name(path.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            stream.seek(0)
            shutil.copyfileobj(stream, fh, 1024 * 1024)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def do_upload(user: User, room: Room, stream: IO[bytes], *, file_name: str, file_type: str, file_size: int,
              encrypted: bool, mime_type: str) -> tuple[str, UploadToken]:
    """Store checked bytes under a new server-made name and issue an upload token for them.

    Returns the token (the only time it exists in clear: the database keeps its hash) and
    its row. Nothing is broadcast: the room sees the file when the message is sent.
    """
    path = upload_dir() / secrets.token_hex(16)
    offload(_write_file, path, stream)
    token = new_token()
    now = utcnow()
    row = UploadToken(token_hash=hash_token(token), user_id=user.id, room_id=room.id, file_path=path.name,
                      file_name=file_name, file_type=file_type, file_size=file_size, encrypted=encrypted,
                      mime_type=mime_type, issued_at=now, expires_at=now + token_life())
    database.session.add(row)
    try:
        database.session.commit()
    except BaseException:
        database.session.rollback()
        path.unlink(missing_ok=True)
        raise
    return token, row


def attach_upload(sender: User | SocketCaller, room_id: int, message_type: str, upload_token: object, message: Message) -> RoomFile:
    """Inside the caller's transaction (the message is flushed, not committed): consume the
    upload token and attach its file to `message`, which takes the file's name and size.

    The token must be live, unused, the sender's own, and for this room and message type;
    anything else is UPLOAD_TOKEN_INVALID and the caller rolls back, so nothing is written.
    """
    if not isinstance(upload_token, str) or not 0 < len(upload_token) <= 200:
        raise ApiError("UPLOAD_TOKEN_INVALID")
    now = utcnow()
    # One conditional UPDATE claims the token, so two sends racing with it cannot both win.
    claimed = database.session.execute(
        update(UploadToken)
        .where(UploadToken.token_hash == hash_token(upload_token),
               UploadToken.consumed_at.is_(None),
               UploadToken.expires_at > now,
               UploadToken.user_id == sender.id,
               UploadToken.room_id == room_id,
               UploadToken.file_type == message_type)
        .values(consumed_at=now)
        .returning(UploadToken)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if claimed is None:
        raise ApiError("UPLOAD_TOKEN_INVALID")
    message.file_name = claimed.file_name
    message.file_size = claimed.file_size
    room_file = RoomFile(room_id=room_id, message=message, file_path=claimed.file_path, file_name=claimed.file_name,
                         file_size=claimed.file_size, file_type=claimed.file_type, uploaded_by=sender.id,
                         uploaded_at=claimed.issued_at, encrypted=claimed.encrypted, mime_type=claimed.mime_type)
    database.session.add(room_file)
    database.session.flush()
    return room_file


# --- maintenance jobs: `job(now) -> int`, run by messenger/server/jobs.py ---------------------

def purge_upload_tokens(now: datetime) -> int:
    """Forget upload tokens that were used or have expired; returns how many.

    An expired upload's bytes are then referenced by nothing, and `delete_orphan_uploads`
    removes them.
    """
    # A DELETE answers a CursorResult, which has the row count.
    removed = cast(CursorResult[Any], database.session.execute(delete(UploadToken).where(
        or_(UploadToken.consumed_at.is_not(None), UploadToken.expires_at <= now)))).rowcount
    database.session.commit()
    return removed


def delete_orphan_uploads(now: datetime) -> int:
    """Remove stored files that nothing live points at; returns how many.

    That is: uploads never sent before their token expired, files deleted from their room
    or whose message was deleted, and leftovers of a crash mid-upload. A file younger than
    the token life is left alone, since its upload may still be committing.
    """
    # A deleted message takes its file with it.
    database.session.execute(
        update(RoomFile)
        .where(RoomFile.deleted_at.is_(None),
               RoomFile.message_id.in_(select(Message.id).where(Message.deleted_at.is_not(None))))
        .values(deleted_at=now)
        .execution_options(synchronize_session=False))
    database.session.commit()
    live = set(database.session.scalars(select(RoomFile.file_path).where(RoomFile.deleted_at.is_(None))))
    live.update(database.session.scalars(select(UploadToken.file_path).where(
        UploadToken.consumed_at.is_(None), UploadToken.expires_at > now)))
    database.session.rollback()  # end the read transaction before touching the disk
    settled_before = (now - token_life()).timestamp()
    removed = 0
    for entry in upload_dir().iterdir():
        if entry.name in live or not entry.is_file() or entry.stat().st_mtime >= settled_before:
            continue
        entry.unlink(missing_ok=True)
        removed += 1
    return removed
