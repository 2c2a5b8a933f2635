"""`messenger admin --data-dir DIR import-v4 ...`: move an office from the old v4 server.

Reads v4's `messenger.db` (read-only), its upload folder and its `.master_key`, and writes a
new data dir: users (v4's password hashes kept, replaced by argon2id at each user's first
sign-in), rooms, members, every message with its reply, reactions, notices, polls, files and
read marks. Every id is kept, so replies, read marks and notices point where they did.

Everything is checked before anything is written (the data dir is new, the files are a v4
deployment, the master key opens every room key and those keys open the room's messages).
The new data dir is built in a staging folder beside it and moved into place only once the
database transaction has committed, so a failure leaves nothing behind; a second run finds
the data dir in use and refuses.

Legacy room keys (spec/e2e-keys.md §13): unwrapped with the master key in memory only, then
sealed to an escrow device whose private keys go to a file the admin keeps, never into the data
dir. `release-legacy-keys` (messenger/server/actions/legacy_keys.py) later seals them to the
members' devices; the master key itself is never stored.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import Connection, func, insert, select, text

from messenger.core.e2e import (
    DeviceKeys,
    EnvelopeError,
    decrypt_envelope,
    legacy_room_key,
    room_key_id,
    seal_to_device,
)
from messenger.core.files import sync_folder
from messenger.core.media import SNIFF_BYTES, UPLOAD_MIME_TYPES, content_matches_extension
from messenger.core.names import display_name
from messenger.server.actions.files import extension_of
from messenger.server.actions.rooms import direct_key
from messenger.server.config import ServerConfig
from messenger.server.db import Database
from messenger.server.db.models import (
    OCTET_STREAM,
    Base,
    DeviceKey,
    DeviceSession,
    Message,
    Notice,
    Poll,
    PollOption,
    PollVote,
    Reaction,
    Room,
    RoomFile,
    RoomKey,
    RoomKeyPackage,
    RoomKeyState,
    RoomMember,
    User,
)
from messenger.server.errors import Refused
from messenger.server.tokens import hash_token, new_token

# v4 wrote message times in Korean time without an offset; Korea has no daylight saving time.
KST = timezone(timedelta(hours=9))
DELETED_TEXT = "[삭제된 메시지]"  # what v4 wrote over a deleted message (with encrypted = 0)
# The columns this import reads from each v4 table: a database without them is not v4's.
V4_COLUMNS = {
    "users": {"id", "username", "password_hash", "nickname", "profile_image", "status_message", "created_at"},
    "rooms": {"id", "name", "type", "created_by", "encryption_key", "created_at"},
    "room_members": {"room_id", "user_id", "joined_at", "last_read_message_id", "pinned", "muted", "role"},
    "messages": {"id", "room_id", "sender_id", "content", "encrypted", "message_type", "file_path", "file_name",
                 "client_msg_id", "reply_to", "created_at"},
    "message_reactions": {"message_id", "user_id", "emoji", "created_at"},
    "pinned_messages": {"id", "room_id", "message_id", "content", "pinned_by", "pinned_at"},
    "polls": {"id", "room_id", "created_by", "question", "multiple_choice", "anonymous", "closed", "ends_at",
              "created_at"},
    "poll_options": {"id", "poll_id", "option_text"},
    "poll_votes": {"poll_id", "option_id", "user_id", "voted_at"},
    "room_files": {"id", "room_id", "message_id", "file_path", "file_name", "file_size", "file_type", "uploaded_by",
                   "uploaded_at"},
}
LEGACY_KEY_VERSION = 1  # an imported room's legacy key is its first key version
# The account and device that hold the escrowed legacy keys: no person, never signs in.
ESCROW_USERNAME = "v4-import"  # a name registration refuses ("-"), so no user can take it
ESCROW_DEVICE_NAME = "v4 import: legacy key escrow"
ESCROW_FILE_HEADER = "messenger v4 legacy key escrow"
NEVER = datetime(9999, 1, 1, tzinfo=timezone.utc)
BATCH = 5_000


class ImportRefused(Refused):
    """The import cannot start, or failed."""


@dataclass
class ImportSummary:
    counts: dict[str, int] = field(default_factory=dict)
    missing_files: list[str] = field(default_factory=list)
    escrow_key_file: str = ""
    seconds: float = 0.0
    last_file_id: int = 0  # the highest v4 room_files id: a file message without a row gets the next

    def next_file_id(self) -> int:
        self.last_file_id += 1
        return self.last_file_id

    def as_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "missing_files": self.missing_files, "escrow_key_file": self.escrow_key_file,
                "seconds": round(self.seconds, 3)}


# --- checks: nothing is written until all of them pass -------------------------------------------

def check_new_data_dir(data_dir: Path) -> None:
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise ImportRefused("DATA_DIR_NOT_EMPTY", f"{data_dir} is not empty: import only into a new or empty data dir, "
                                                  "before the server's first start")


def open_v4_database(path: Path) -> sqlite3.Connection:
    """v4's database, opened read-only; refused unless it has every v4 table and column."""
    if not path.is_file():
        raise ImportRefused("V4_FILE_MISSING", f"there is no v4 database at {path}")
    try:
        connection = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise ImportRefused("V4_NOT_A_DATABASE", f"{path} is not a SQLite database ({exc})") from None
    for table, wanted in V4_COLUMNS.items():
        if table not in tables:
            connection.close()
            raise ImportRefused("V4_SCHEMA_UNKNOWN", f"{path} is not a v4 database: it has no table {table}")
        have = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if not wanted <= have:
            connection.close()
            raise ImportRefused("V4_SCHEMA_UNKNOWN", f"{path} is not a v4 database: {table} lacks "
                                                     f"{', '.join(sorted(wanted - have))}")
    connection.row_factory = sqlite3.Row
    return connection


def read_master_key(path: Path) -> bytes:
    """v4's `.master_key`: 32 raw bytes (hex or base64 of them is taken too)."""
    if not path.is_file():
        raise ImportRefused("V4_FILE_MISSING", f"there is no v4 master key file at {path}")
    raw = path.read_bytes()
    if len(raw) != 32:
        text_form = raw.strip()
        for decode in (binascii.unhexlify, base64.b64decode):
            try:
                decoded = decode(text_form)
            except (binascii.Error, ValueError):
                continue
            if len(decoded) == 32:
                return decoded
        raise ImportRefused("V4_MASTER_KEY_INVALID", f"{path} is not a v4 master key (32 bytes)")
    return raw


def unwrap_room_key(wrapped: str, master_key: bytes) -> str:
    """A v4 room key: base64(IV ‖ AES-256-CBC(master key, key)) with PKCS7; ValueError if it does
    not unwrap to the base64 text v4's keys are."""
    raw = base64.b64decode(wrapped, validate=True)
    if len(raw) < 32 or len(raw) % 16:
        raise ValueError("not IV and whole blocks")
    decryptor = Cipher(algorithms.AES(master_key), modes.CBC(raw[:16])).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    padded = decryptor.update(raw[16:]) + decryptor.finalize()
    key = (unpadder.update(padded) + unpadder.finalize()).decode("ascii")
    base64.b64decode(key, validate=True)
    return key


def legacy_keys(v4: sqlite3.Connection, master_key: bytes) -> dict[int, str]:
    """Every room's legacy key, each proven right by opening one of the room's envelopes (v2 has a
    MAC), so a wrong master key is refused before anything is written."""
    keys = {}
    for room in v4.execute("SELECT id, encryption_key FROM rooms WHERE encryption_key IS NOT NULL "
                           "AND encryption_key != '' ORDER BY id"):
        try:
            key = unwrap_room_key(room["encryption_key"], master_key)
            sample = v4.execute("SELECT content FROM messages WHERE room_id = ? AND encrypted = 1 "
                                "AND content LIKE 'v2:%' LIMIT 1", (room["id"],)).fetchone() or v4.execute(
                "SELECT content FROM messages WHERE room_id = ? AND encrypted = 1 "
                "AND content LIKE 'U2FsdGVkX1%' LIMIT 1", (room["id"],)).fetchone()
            if sample is not None:
                decrypt_envelope(sample["content"], key)
        except (ValueError, EnvelopeError):
            raise ImportRefused("V4_MASTER_KEY_WRONG", f"the master key does not open room {room['id']}'s key: "
                                                       "is it this deployment's .master_key?") from None
        keys[room["id"]] = key
    return keys


def check_escrow_file(path: Path, data_dir: Path) -> None:
    path = path.resolve()
    if path.is_relative_to(data_dir.resolve()):
        raise ImportRefused("ESCROW_FILE_REFUSED", "write the escrow key file outside the data dir: the server "
                                                   "must not hold the key that opens the legacy room keys")
    if path.exists():
        raise ImportRefused("ESCROW_FILE_REFUSED", f"{path} exists already; name a new file")
    if not path.parent.is_dir():
        raise ImportRefused("ESCROW_FILE_REFUSED", f"the folder of {path} does not exist")


def parse_v4_time(value: object, zone: tzinfo) -> datetime | None:
    """A v4 timestamp (naive text in `zone`) as aware UTC."""
    if value in (None, ""):
        return None
    moment = datetime.fromisoformat(str(value).replace("T", " ").rstrip("Z"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(timezone.utc)


def server_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImportRefused("VALIDATION_ERROR", f"unknown time zone {name!r} (e.g. UTC, Asia/Seoul)") from None


# --- the import ----------------------------------------------------------------------------------

def import_v4(config: ServerConfig, v4_db: Path, uploads: Path, master_key_file: Path, escrow_key_file: Path,
              admins: tuple[str, ...] = (), v4_timezone: str = "UTC") -> ImportSummary:
    """Import a v4 deployment into `config`'s new data dir (and database); see the module docstring.

    `v4_timezone` is the v4 machine's local time zone, in which v4 wrote poll times (message
    times are always Korean time, the rest UTC). `admins` are v4 usernames made platform admins.
    """
    started = time.perf_counter()
    data_dir = Path(config.data_dir).resolve()
    check_new_data_dir(data_dir)
    zone = server_zone(v4_timezone)
    v4 = open_v4_database(Path(v4_db))
    try:
        if not Path(uploads).is_dir():
            raise ImportRefused("V4_FILE_MISSING", f"there is no v4 upload folder at {uploads}")
        master_key = read_master_key(Path(master_key_file))
        keys = legacy_keys(v4, master_key)
        del master_key
        check_escrow_file(Path(escrow_key_file), data_dir)
        usernames = {row["username"] for row in v4.execute("SELECT username FROM users")}
        unknown = sorted(set(admins) - usernames)
        if unknown:
            raise ImportRefused("USER_NOT_FOUND", f"--admin names no v4 user: {', '.join(unknown)}")
        summary = _write(config, data_dir, v4, Path(uploads), keys, Path(escrow_key_file), set(admins), zone)
    finally:
        v4.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _write(config: ServerConfig, data_dir: Path, v4: sqlite3.Connection, uploads: Path, keys: dict[int, str],
           escrow_file: Path, admins: set[str], zone: tzinfo) -> ImportSummary:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.importing-", dir=data_dir.parent))
    database = Database()
    escrow_written = False
    try:
        database.open(replace(config, data_dir=staging).sqlalchemy_url)
        database.migrate()
        with database.engine.begin() as db:
            if db.dialect.name == "sqlite":
                # One transaction of every row: the indexes' pages must stay in memory (256 MiB at most).
                db.exec_driver_sql("PRAGMA cache_size = -262144")
            if db.scalar(select(func.count()).select_from(User)):
                raise ImportRefused("DATA_DIR_NOT_EMPTY", "the configured database holds users already: import "
                                                          "only into a new database")
            summary = _copy(db, v4, uploads, staging, admins, zone)
            escrow = DeviceKeys.generate()
            summary.counts["legacy_room_keys"] = _escrow_legacy_keys(db, keys, escrow, v4)
            # Written before the commit: a committed escrow without its key could never be opened.
            _write_escrow_file(escrow_file, escrow)
            escrow_written = True
            summary.escrow_key_file = str(escrow_file.resolve())
            if db.dialect.name == "postgresql":
                _advance_sequences(db)
        database.close()
        if data_dir.exists():
            data_dir.rmdir()
        os.replace(staging, data_dir)
        sync_folder(data_dir.parent)
        return summary
    except BaseException:
        database.close()
        shutil.rmtree(staging, ignore_errors=True)
        if escrow_written:
            escrow_file.unlink(missing_ok=True)
        raise


def _copy(db: Connection, v4: sqlite3.Connection, uploads: Path, staging: Path, admins: set[str],
          zone: tzinfo) -> ImportSummary:
    """Every v4 row into `db`, ids kept, files copied into `staging`. v4 checked few lengths:
    texts are cut to the suite's column sizes, which PostgreSQL enforces."""
    summary = ImportSummary()
    counts = summary.counts
    now = datetime.now(timezone.utc)
    utc = timezone.utc

    users = []
    for row in v4.execute("SELECT * FROM users ORDER BY id"):
        image = _copy_profile_image(row["profile_image"], uploads, staging, summary)
        users.append({"id": row["id"], "username": row["username"], "password_hash": row["password_hash"],
                      "nickname": (row["nickname"] or row["username"])[:64],
                      "status_message": (row["status_message"] or "")[:100],
                      "profile_image": image, "is_admin": row["username"] in admins,
                      "created_at": parse_v4_time(row["created_at"], utc) or now, "deleted_at": None})
    known_users = {user["id"] for user in users}
    # Authors whose v4 account row is gone: kept as deleted accounts, so that what they wrote
    # stays in place (as the suite keeps a deleted account's messages).
    referenced = {r[0] for r in v4.execute(
        "SELECT sender_id FROM messages UNION SELECT created_by FROM polls UNION SELECT pinned_by FROM pinned_messages "
        "UNION SELECT uploaded_by FROM room_files") if r[0] is not None}
    for user_id in sorted(referenced - known_users):
        users.append({"id": user_id, "username": f"deleted_{user_id}_{secrets.token_hex(4)}", "password_hash": "!",
                      "nickname": "(deleted)", "status_message": "", "profile_image": None, "is_admin": False,
                      "created_at": now, "deleted_at": now})
    _insert(db, User, users)
    counts["users"] = len(known_users)
    all_user_ids = {user["id"] for user in users}

    rooms, members = [], []
    member_rows = v4.execute("SELECT * FROM room_members ORDER BY room_id, user_id").fetchall()
    by_room: dict[int, list[int]] = {}
    for row in member_rows:
        by_room.setdefault(row["room_id"], []).append(row["user_id"])
    direct_keys: set[str | None] = set()
    for row in v4.execute("SELECT * FROM rooms ORDER BY id"):
        pair = by_room.get(row["id"], [])
        key = direct_key(*pair) if row["type"] == "direct" and len(pair) == 2 else None
        if key in direct_keys:
            key = None  # v4 made two direct rooms for one pair: both are kept, the first is reused
        direct_keys.add(key)
        rooms.append({"id": row["id"], "name": (row["name"] or "")[:100] or None, "type": row["type"] or "group",
                      "created_by": row["created_by"] if row["created_by"] in all_user_ids else None,
                      "direct_key": key,
                      "created_at": parse_v4_time(row["created_at"], utc) or now})
    _insert(db, Room, rooms)
    counts["rooms"] = len(rooms)
    room_ids = {room["id"] for room in rooms}
    for row in member_rows:
        if row["room_id"] in room_ids and row["user_id"] in known_users:
            members.append({"room_id": row["room_id"], "user_id": row["user_id"],
                            "role": "admin" if row["role"] == "admin" else "member",
                            "joined_at": parse_v4_time(row["joined_at"], utc) or now,
                            "last_read_message_id": row["last_read_message_id"] or 0,
                            "pinned": bool(row["pinned"]), "muted": bool(row["muted"])})
    _insert(db, RoomMember, members)
    counts["memberships"] = len(members)

    files = {row["message_id"]: row for row in v4.execute(
        "SELECT * FROM room_files WHERE message_id IS NOT NULL ORDER BY id")}
    summary.last_file_id = v4.execute("SELECT COALESCE(MAX(id), 0) FROM room_files").fetchone()[0]
    # A reply whose target v4 no longer has (or has in a room not imported) becomes a plain message.
    imported_ids = {r[0] for r in v4.execute("SELECT id FROM messages WHERE room_id IN (SELECT id FROM rooms)")}
    counts.update(messages=0, deleted_messages=0, files=0)
    batch, file_rows = [], []
    for row in v4.execute("SELECT * FROM messages WHERE room_id IN (SELECT id FROM rooms) ORDER BY id"):
        deleted = row["content"] == DELETED_TEXT and not row["encrypted"]
        created = parse_v4_time(row["created_at"], KST) or now
        message = {"id": row["id"], "room_id": row["room_id"], "sender_id": row["sender_id"],
                   "content": "" if deleted else row["content"] or "", "encrypted": bool(row["encrypted"]),
                   "message_type": row["message_type"] or "text", "file_name": row["file_name"], "file_size": None,
                   "client_msg_id": (row["client_msg_id"] or "")[:64] or None, "reply_to": row["reply_to"] if row["reply_to"] in imported_ids else None,
                   "created_at": created, "edited_at": None,
                   # v4 kept no time of deletion: the message's own time is the closest it knew.
                   "deleted_at": created if deleted else None}
        if message["message_type"] in ("file", "image") and not deleted:
            stored = _copy_upload(row, files.get(row["id"]), uploads, staging, summary)
            if stored is not None:
                message["file_size"] = stored["file_size"]
                message["file_name"] = stored["file_name"]
                file_rows.append(stored)
        batch.append(message)
        counts["messages"] += 1
        counts["deleted_messages"] += deleted
        if len(batch) >= BATCH:
            _insert(db, Message, batch)
            batch = []
    _insert(db, Message, batch)
    _insert(db, RoomFile, file_rows)
    counts["files"] = len(file_rows)

    message_ids = "SELECT id FROM messages WHERE room_id IN (SELECT id FROM rooms)"
    reactions = [{"message_id": r["message_id"], "user_id": r["user_id"], "emoji": r["emoji"],
                  "created_at": parse_v4_time(r["created_at"], utc) or now}
                 for r in v4.execute(f"SELECT * FROM message_reactions WHERE message_id IN ({message_ids}) "
                                     "AND user_id IN (SELECT id FROM users) ORDER BY id")]
    _insert(db, Reaction, reactions)
    counts["reactions"] = len(reactions)
    notices = [{"id": r["id"], "room_id": r["room_id"], "message_id": r["message_id"],
                "content": r["content"] or None, "pinned_by": r["pinned_by"],
                "pinned_at": parse_v4_time(r["pinned_at"], utc) or now}
               for r in v4.execute("SELECT * FROM pinned_messages WHERE room_id IN (SELECT id FROM rooms) "
                                   f"AND (message_id IS NULL OR message_id IN ({message_ids})) ORDER BY id")]
    _insert(db, Notice, notices)
    counts["notices"] = len(notices)

    polls = [{"id": r["id"], "room_id": r["room_id"], "created_by": r["created_by"], "question": r["question"][:200],
              "multiple_choice": bool(r["multiple_choice"]), "anonymous": bool(r["anonymous"]),
              "closed": bool(r["closed"]), "ends_at": parse_v4_time(r["ends_at"], zone),
              "created_at": parse_v4_time(r["created_at"], zone) or now}
             for r in v4.execute("SELECT * FROM polls WHERE room_id IN (SELECT id FROM rooms) ORDER BY id")]
    _insert(db, Poll, polls)
    poll_ids = "SELECT id FROM polls WHERE room_id IN (SELECT id FROM rooms)"
    options = [{"id": r["id"], "poll_id": r["poll_id"], "option_text": r["option_text"][:100]}
               for r in v4.execute(f"SELECT * FROM poll_options WHERE poll_id IN ({poll_ids}) ORDER BY id")]
    _insert(db, PollOption, options)
    votes = [{"poll_id": r["poll_id"], "option_id": r["option_id"], "user_id": r["user_id"],
              "voted_at": parse_v4_time(r["voted_at"], utc) or now}
             for r in v4.execute(f"SELECT * FROM poll_votes WHERE poll_id IN ({poll_ids}) "
                                 "AND option_id IN (SELECT id FROM poll_options) "
                                 "AND user_id IN (SELECT id FROM users) ORDER BY id")]
    _insert(db, PollVote, votes)
    counts.update(polls=len(polls), poll_options=len(options), poll_votes=len(votes))
    return summary


def _insert(db: Connection, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """Rows of one table in one executemany: every row must have the same keys."""
    if rows:
        db.execute(insert(model), rows)


def _copy_file(source: Path, staging: Path, folder: str) -> str:
    """Copy one v4 file under a new server-made name; returns that name."""
    target_folder = staging / folder
    target_folder.mkdir(mode=0o700, exist_ok=True)
    name = secrets.token_hex(16)
    shutil.copyfile(source, target_folder / name)
    os.chmod(target_folder / name, 0o600)
    return name


def _v4_file(uploads: Path, stored_name: str | None) -> Path | None:
    """The v4 upload named `stored_name` (as v4 stored it), if it is a file inside the folder."""
    if not stored_name:
        return None
    path = (uploads / stored_name).resolve()
    return path if path.is_relative_to(uploads.resolve()) and path.is_file() else None


def _copy_upload(message: sqlite3.Row, room_file: sqlite3.Row | None, uploads: Path, staging: Path,
                 summary: ImportSummary) -> dict[str, Any] | None:
    """The room_files row for a v4 file message, its bytes copied as a plaintext legacy file;
    None (reported) if the bytes are missing."""
    stored_name = room_file["file_path"] if room_file is not None else message["file_path"]
    source = _v4_file(uploads, stored_name)
    if source is None:
        summary.missing_files.append(f"{stored_name or '(no file)'} (message {message['id']})")
        return None
    name = display_name(message["file_name"] or (room_file["file_name"] if room_file is not None else "")) or "file"
    extension = extension_of(name)
    with open(source, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    # The type v4 served it with, where its content agrees; anything else is bytes to download.
    mime_type = UPLOAD_MIME_TYPES.get(extension) if content_matches_extension(extension, head) else None
    return {"id": room_file["id"] if room_file is not None else summary.next_file_id(), "room_id": message["room_id"],
            "message_id": message["id"], "file_path": _copy_file(source, staging, "uploads"), "file_name": name,
            "file_size": source.stat().st_size,
            "file_type": message["message_type"] if message["message_type"] in ("file", "image") else "file",
            "uploaded_by": message["sender_id"],
            "uploaded_at": parse_v4_time(room_file["uploaded_at"], timezone.utc) if room_file is not None
            else parse_v4_time(message["created_at"], KST),
            "encrypted": False, "mime_type": mime_type or OCTET_STREAM, "deleted_at": None}


def _copy_profile_image(stored_name: str | None, uploads: Path, staging: Path, summary: ImportSummary) -> str | None:
    if not stored_name:
        return None
    source = _v4_file(uploads, stored_name) or _v4_file(uploads, Path(stored_name).name)
    if source is None:
        summary.missing_files.append(f"{stored_name} (profile image)")
        return None
    return _copy_file(source, staging, "profile_images")


def _escrow_legacy_keys(db: Connection, keys: dict[int, str], escrow: DeviceKeys, v4: sqlite3.Connection) -> int:
    """Each room's legacy key becomes the room's key version 1, sealed to the escrow device only.

    The escrow account is disabled and its device token thrown away: nobody signs in as it.
    Rooms stay `rotation_required`, so the first sender makes a fresh v3 key (version 2).
    """
    if not keys:
        return 0
    now = datetime.now(timezone.utc)
    user_id = db.execute(select(func.coalesce(func.max(User.id), 0))).scalar_one() + 1
    db.execute(insert(User), [{"id": user_id, "username": ESCROW_USERNAME, "password_hash": "!",
                               "nickname": ESCROW_DEVICE_NAME, "status_message": "", "is_admin": False,
                               "disabled_at": now, "created_at": now}])
    device_id = db.execute(insert(DeviceSession).values(
        user_id=user_id, device_id=secrets.token_hex(16), token_hash=hash_token(new_token()),
        device_name=ESCROW_DEVICE_NAME, created_at=now, last_used_at=now, expires_at=NEVER, remember=True,
        ttl_days=0).returning(DeviceSession.id)).scalar_one()
    db.execute(insert(DeviceKey), [{"device_session_id": device_id, "user_id": user_id,
                                    "encryption_key": escrow.public_key,
                                    "signing_key": escrow.signing_public_key, "published_at": now}])
    created = {row["id"]: parse_v4_time(row["created_at"], timezone.utc) or now
               for row in v4.execute("SELECT id, created_at FROM rooms")}
    versions, states, packages = [], [], []
    for room_id, key in keys.items():
        held = legacy_room_key(key)
        versions.append({"room_id": room_id, "version": LEGACY_KEY_VERSION, "key_id": room_key_id(held),
                         "created_by": user_id, "created_by_device_session_id": device_id,
                         "created_at": created[room_id]})
        states.append({"room_id": room_id, "history_visible_to_new_members": True, "rotation_required": True})
        payload = json.dumps({"room_id": room_id, "key_version": LEGACY_KEY_VERSION, "room_key": held},
                             separators=(",", ":")).encode()
        packages.append({"room_id": room_id, "key_version": LEGACY_KEY_VERSION, "device_session_id": device_id,
                         "sender_device_session_id": device_id, "created_at": now,
                         "sealed": seal_to_device(payload, escrow.public_key, sender=escrow.signing)})
    _insert(db, RoomKey, versions)
    _insert(db, RoomKeyState, states)
    _insert(db, RoomKeyPackage, packages)
    return len(keys)


def _write_escrow_file(path: Path, escrow: DeviceKeys) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(f"{ESCROW_FILE_HEADER}\n{escrow.export()}\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_escrow_file(path: Path) -> DeviceKeys:
    """The escrow device's private keys from the file the import wrote; ImportRefused otherwise."""
    try:
        header, secret = path.read_text(encoding="ascii").strip().split("\n")
        if header.strip() != ESCROW_FILE_HEADER:
            raise ValueError("no header")
        return DeviceKeys.load(secret.strip())
    except (OSError, ValueError, UnicodeDecodeError, EnvelopeError):
        raise ImportRefused("ESCROW_KEY_INVALID", f"{path} is not the escrow key file that import-v4 wrote") from None


def _advance_sequences(db: Connection) -> None:
    """PostgreSQL: ids were given explicitly, so each id sequence moves past the highest one."""
    for table in ("users", "rooms", "messages", "message_reactions", "pinned_messages", "polls", "poll_options",
                  "poll_votes", "room_files", "device_sessions", "room_keys", "room_key_packages"):
        db.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"))
