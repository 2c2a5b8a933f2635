"""The server's tables (SQLAlchemy 2). Table names follow the v4 database so its data maps over.

A column's SQL type comes from its annotation (`int`, `bool`, `datetime` as UTCDateTime) and is
written out only where it says more: String's length, Text, JSON. `tests/server/db/test_migrations.py`
checks that the migrations make exactly this schema.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, always hands back timezone-aware UTC (SQLite keeps no offset)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    # Every time column keeps UTC: a `Mapped[datetime]` column is a UTCDateTime.
    type_annotation_map = {datetime: UTCDateTime}


# Column kinds that recur across the tables (SQLAlchemy's `Annotated` declarations: a
# `mapped_column(...)` on the attribute adds to the one here).
intpk = Annotated[int, mapped_column(primary_key=True)]
timestamp = Annotated[datetime, mapped_column(default=utcnow)]  # now, when the row is made
user_fk = Annotated[int, mapped_column(ForeignKey("users.id", ondelete="CASCADE"))]  # goes with its user
room_fk = Annotated[int, mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))]  # goes with its room


class User(Base):
    __tablename__ = "users"

    id: Mapped[intpk]
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    nickname: Mapped[str] = mapped_column(String(64))
    status_message: Mapped[str] = mapped_column(String(100), default="")
    profile_image: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)  # platform admin
    # Bumped on password change / disable: browser cookies carry it, so old ones die.
    session_epoch: Mapped[int] = mapped_column(default=0)
    disabled_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[timestamp]


class DeviceSession(Base):
    __tablename__ = "device_sessions"

    id: Mapped[intpk]
    user_id: Mapped[user_fk] = mapped_column(index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    device_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[timestamp]
    last_used_at: Mapped[timestamp]
    # Indexed: the periodic check of ended sign-ins reads by them (migration 0007).
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    remember: Mapped[bool] = mapped_column(default=True)
    ttl_days: Mapped[int] = mapped_column(default=30)
    # "desktop" (a device token) or "browser" (a cookie session of hybrid mode; its token is never handed out).
    kind: Mapped[str] = mapped_column(String(10), default="desktop", server_default="desktop")


class Room(Base):
    __tablename__ = "rooms"

    id: Mapped[intpk]
    name: Mapped[str | None] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(10))  # direct | group
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # For direct rooms: "<low id>:<high id>", unique, so a DM is reused instead of duplicated.
    direct_key: Mapped[str | None] = mapped_column(String(32), unique=True)
    created_at: Mapped[timestamp]


# A member's role in a room (RoomMember.role).
ROOM_ADMIN = "admin"
ROOM_MEMBER = "member"


class RoomMember(Base):
    __tablename__ = "room_members"

    room_id: Mapped[room_fk] = mapped_column(primary_key=True)
    user_id: Mapped[user_fk] = mapped_column(primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(10), default=ROOM_MEMBER)  # ROOM_MEMBER | ROOM_ADMIN
    joined_at: Mapped[timestamp]
    last_read_message_id: Mapped[int] = mapped_column(default=0)
    pinned: Mapped[bool] = mapped_column(default=False)
    muted: Mapped[bool] = mapped_column(default=False)


class Message(Base):
    """A room's message. `content` is an end-to-end envelope the server cannot read (spec/e2e.md),
    or plain text: a system line, or where the server's E2E policy allows it. A file or image
    message's upload is its RoomFile."""

    __tablename__ = "messages"
    __table_args__ = (
        # A resent client_msg_id is recognised forever, not for a window.
        UniqueConstraint("sender_id", "room_id", "client_msg_id", name="uq_messages_client_msg_id"),
        Index("ix_messages_room_id_id", "room_id", "id"),
    )

    id: Mapped[intpk]
    room_id: Mapped[room_fk]
    sender_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    content: Mapped[str] = mapped_column(Text, default="")
    encrypted: Mapped[bool] = mapped_column(default=True)
    message_type: Mapped[str] = mapped_column(String(10), default="text")  # text|file|image|system
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_size: Mapped[int | None]
    client_msg_id: Mapped[str | None] = mapped_column(String(64))
    reply_to: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    created_at: Mapped[timestamp]
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]

    # Loaded only when a file or image message is serialized.
    room_file: Mapped[RoomFile | None] = relationship(back_populates="message")


class Reaction(Base):
    __tablename__ = "message_reactions"
    __table_args__ = (UniqueConstraint("message_id", "user_id", "emoji"),)

    id: Mapped[intpk]
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[user_fk]
    emoji: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[timestamp]


class Notice(Base):
    """A room notice ("pin"): a pinned message or a free text."""

    __tablename__ = "pinned_messages"

    id: Mapped[intpk]
    room_id: Mapped[room_fk] = mapped_column(index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    content: Mapped[str | None] = mapped_column(Text)
    pinned_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    pinned_at: Mapped[timestamp]


class RoomEvent(Base):
    """Every canonical event, kept so a client that was away can catch up by cursor."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_room_id_id", "room_id", "id"), Index("ix_events_user_id_id", "user_id", "id"))

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(40))
    room_id: Mapped[int | None]  # for the room's members
    user_id: Mapped[int | None]  # for one user's devices
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[timestamp]


class AuditEvent(Base):
    """Security log: logins, failures, token refresh and revoke, password changes, admin actions."""

    __tablename__ = "access_logs"
    __table_args__ = (Index("ix_access_logs_user_id_id", "user_id", "id"),)

    id: Mapped[intpk]
    user_id: Mapped[int | None]
    action: Mapped[str] = mapped_column(String(40))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[timestamp] = mapped_column(index=True)


class ServerSetting(Base):
    """Settings an admin changes at run time (mode, registration, ...), one JSON value per key."""

    __tablename__ = "server_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any] | list[Any] | str | int | bool | None] = mapped_column(JSON)


# --- end-to-end keys: public keys and opaque sealed packages only (spec/e2e-keys.md) -------------

class DeviceKey(Base):
    """A device session's public keys: X25519 to seal room keys to it, Ed25519 to check what it signs.

    The private halves never leave the device; one set per device session, never replaced.
    """

    __tablename__ = "device_keys"

    device_session_id: Mapped[int] = mapped_column(ForeignKey("device_sessions.id", ondelete="CASCADE"),
                                                   primary_key=True)
    user_id: Mapped[user_fk] = mapped_column(index=True)
    encryption_key: Mapped[str] = mapped_column(String(64))  # base64 of 32 bytes
    signing_key: Mapped[str] = mapped_column(String(64))  # base64 of 32 bytes
    published_at: Mapped[timestamp]
    # The user's identity's signature of this device (base64 of 64 bytes), opaque to the server.
    identity_signature: Mapped[str | None] = mapped_column(String(128))


class IdentityKey(Base):
    """A user's identity public key (it signs the user's devices) and the recovery blob, which
    holds the identity private key encrypted under the user's recovery key. Opaque to the server."""

    __tablename__ = "identity_keys"

    user_id: Mapped[user_fk] = mapped_column(primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))  # base64 of 32 bytes
    recovery_blob: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[timestamp]
    device_session_id: Mapped[int | None] = mapped_column(ForeignKey("device_sessions.id", ondelete="SET NULL"))


# New members read the room's history, as they always did in v4; a room admin can turn it off.
HISTORY_VISIBLE_BY_DEFAULT = True


class RoomKeyState(Base):
    """A room's key policy and whether the next sender must make a new key version (no row: defaults)."""

    __tablename__ = "room_key_states"

    room_id: Mapped[room_fk] = mapped_column(primary_key=True)
    history_visible_to_new_members: Mapped[bool] = mapped_column(default=HISTORY_VISIBLE_BY_DEFAULT)
    # Set when someone who may hold the current key leaves; cleared by the next version.
    rotation_required: Mapped[bool] = mapped_column(default=False)


class RoomKey(Base):
    """One version of a room's key, made by a member's device. The server knows its number and
    id, never the key."""

    __tablename__ = "room_keys"
    __table_args__ = (
        UniqueConstraint("room_id", "version", name="uq_room_keys_version"),
        UniqueConstraint("room_id", "key_id", name="uq_room_keys_key_id"),
    )

    id: Mapped[intpk]
    room_id: Mapped[room_fk]
    version: Mapped[int]
    key_id: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_device_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("device_sessions.id", ondelete="SET NULL"))
    created_at: Mapped[timestamp]


class RoomKeyPackage(Base):
    """A room key version sealed by one device to another device's public key (opaque here)."""

    __tablename__ = "room_key_packages"
    __table_args__ = (
        UniqueConstraint("device_session_id", "room_id", "key_version", "sender_device_session_id",
                         name="uq_room_key_packages_target_sender"),
        Index("ix_room_key_packages_room_id_key_version", "room_id", "key_version"),
    )

    id: Mapped[intpk]
    room_id: Mapped[room_fk]
    key_version: Mapped[int]
    device_session_id: Mapped[int] = mapped_column(ForeignKey("device_sessions.id", ondelete="CASCADE"))
    sender_device_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("device_sessions.id", ondelete="SET NULL"))
    sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[timestamp]


class RoomKeyRequest(Base):
    """A device asking for room key versions it lacks; open until packages for all of them arrive."""

    __tablename__ = "room_key_requests"
    __table_args__ = (UniqueConstraint("room_id", "device_session_id", name="uq_room_key_requests_device"),)

    id: Mapped[intpk]
    room_id: Mapped[room_fk]
    device_session_id: Mapped[int] = mapped_column(ForeignKey("device_sessions.id", ondelete="CASCADE"))
    versions: Mapped[list[int]] = mapped_column(JSON)  # still wanted
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp]
    fulfilled_at: Mapped[datetime | None]


class KeyBackup(Base):
    """A user's key backup: one blob encrypted on a device with a passphrase the server never sees."""

    __tablename__ = "key_backups"

    user_id: Mapped[user_fk] = mapped_column(primary_key=True)
    version: Mapped[int]  # each write is the previous + 1
    blob: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[timestamp]
    device_session_id: Mapped[int | None] = mapped_column(ForeignKey("device_sessions.id", ondelete="SET NULL"))


# --- files, polls (v4 tables and column names, so a v4 database's rows map over) -----------------

OCTET_STREAM = "application/octet-stream"  # bytes the server does not (or may not) read


class UploadToken(Base):
    """An uploaded file waiting to be sent: the bearer of the token may attach it to one
    message of type `file_type` in `room_id`, once, before `expires_at`. Only a hash of
    the token is kept."""

    __tablename__ = "upload_tokens"
    __table_args__ = (Index("ix_upload_tokens_room_id_user_id", "room_id", "user_id"),)

    id: Mapped[intpk]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[user_fk]
    room_id: Mapped[room_fk]
    file_path: Mapped[str] = mapped_column(String(255))  # the server-made name under DATA_DIR/uploads
    file_name: Mapped[str] = mapped_column(String(255))  # sanitized original, for display only
    file_type: Mapped[str] = mapped_column(String(10))  # file | image
    file_size: Mapped[int]
    # An end-to-end encrypted blob the server cannot read (served as application/octet-stream).
    encrypted: Mapped[bool] = mapped_column(default=False, server_default=false())
    mime_type: Mapped[str] = mapped_column(String(100), default=OCTET_STREAM, server_default=OCTET_STREAM)
    issued_at: Mapped[timestamp]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    consumed_at: Mapped[datetime | None]


class RoomFile(Base):
    """A file sent in a room: the message that carries it, and where its bytes are."""

    __tablename__ = "room_files"
    __table_args__ = (Index("ix_room_files_room_id_id", "room_id", "id"),)

    id: Mapped[intpk]
    room_id: Mapped[room_fk]
    # Removing a message (retention) removes its file row; the orphan job then removes the bytes.
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    file_path: Mapped[str] = mapped_column(String(255), unique=True)
    file_name: Mapped[str] = mapped_column(String(255))
    file_size: Mapped[int]
    file_type: Mapped[str] = mapped_column(String(10))  # file | image
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    uploaded_at: Mapped[timestamp]
    # Server defaults: rows copied from a v4 database have neither column.
    encrypted: Mapped[bool] = mapped_column(default=False, server_default=false())
    mime_type: Mapped[str] = mapped_column(String(100), default=OCTET_STREAM, server_default=OCTET_STREAM)
    deleted_at: Mapped[datetime | None]  # the bytes are gone

    message: Mapped[Message | None] = relationship(back_populates="room_file")


class Poll(Base):
    __tablename__ = "polls"

    id: Mapped[intpk]
    room_id: Mapped[room_fk] = mapped_column(index=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    question: Mapped[str] = mapped_column(String(200))
    multiple_choice: Mapped[bool] = mapped_column(default=False)
    # Voters are kept (a new vote replaces the old one) but never shown to anyone.
    anonymous: Mapped[bool] = mapped_column(default=False)
    closed: Mapped[bool] = mapped_column(default=False)
    ends_at: Mapped[datetime | None]
    created_at: Mapped[timestamp]


class PollOption(Base):
    __tablename__ = "poll_options"

    id: Mapped[intpk]
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"), index=True)
    option_text: Mapped[str] = mapped_column(String(100))


class PollVote(Base):
    __tablename__ = "poll_votes"
    __table_args__ = (
        UniqueConstraint("poll_id", "option_id", "user_id", name="uq_poll_votes_option_user"),
        Index("ix_poll_votes_poll_id_user_id", "poll_id", "user_id"),
    )

    id: Mapped[intpk]
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"))
    option_id: Mapped[int] = mapped_column(ForeignKey("poll_options.id", ondelete="CASCADE"))
    user_id: Mapped[user_fk]
    voted_at: Mapped[timestamp]
