"""Accounts: creation, password change, profile, deletion."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, func, select, update

from messenger.core import protocol
from messenger.server.actions.audit import record_audit
from messenger.server.actions.device_sessions import disconnect_user, revoke_all_device_sessions
from messenger.server.actions.events import Pending, commit_and_emit, rename_user_sockets, unsubscribe_user_from_room
from messenger.server.actions.keys import delete_key_backup
from messenger.server.actions.rooms import remove_membership
from messenger.server.db.models import PollVote, Reaction, Room, RoomFile, RoomMember, User
from messenger.server.errors import ApiError
from messenger.server.extensions import database
from messenger.server.passwords import hash_password
from messenger.server import serialize

USERNAME_PATTERN = r"[A-Za-z0-9_]{3,20}"


def profile_dir() -> Path:
    """DATA_DIR/profile_images, where profile pictures are kept under server-made names."""
    folder = Path(current_app.config["MESSENGER"].data_dir) / "profile_images"
    folder.mkdir(exist_ok=True)
    return folder


def remove_profile_file(name: str | None) -> None:
    """Delete a profile picture that an action has let go of (after its commit)."""
    if name:
        (profile_dir() / name).unlink(missing_ok=True)


def username_taken(username: str) -> bool:
    return database.session.execute(select(func.count()).select_from(User).where(
        func.lower(User.username) == username.lower())).scalar_one() > 0


def do_create_user(username: str, password: str, nickname: str, is_admin: bool = False,
                   actor_id: int | None = None, ip: str | None = None) -> User:
    """A new account. Usernames are unique without regard to case."""
    if username_taken(username):
        raise ApiError("USERNAME_TAKEN")
    user = User(username=username, password_hash=hash_password(password), nickname=nickname,
                status_message="", is_admin=is_admin)
    database.session.add(user)
    database.session.flush()
    record_audit("user_created", user.id, ip, None, actor_id=actor_id, is_admin=is_admin)
    database.session.commit()
    return user


def do_change_password(user: User, new_password: str, ip: str | None, user_agent: str | None,
                       actor_id: int | None = None) -> None:
    """New password; every device session and socket of the user ends, browser cookies too
    (the device that asked signs in again with the new password)."""
    user.password_hash = hash_password(new_password)
    user.session_epoch += 1
    revoke_all_device_sessions(user.id)
    record_audit("password_changed", user.id, ip, user_agent, actor_id=actor_id or user.id)
    database.session.commit()
    disconnect_user(user.id, "password_changed")


def do_upgrade_password_hash(user: User, password: str) -> None:
    """At a sign-in that proved `password`: replace a hash of an older scheme (an account
    imported from v4) with argon2id. Nothing else changes: sessions stay."""
    user.password_hash = hash_password(password)
    database.session.commit()


def do_update_profile(user: User, nickname: str | None, status_message: str | None) -> None:
    if nickname is not None:
        user.nickname = nickname
    if status_message is not None:
        user.status_message = status_message
    commit_and_emit(_profile_events(user))
    if nickname is not None:
        rename_user_sockets(user.id, nickname)


def do_set_profile_image(user: User, stored_name: str | None) -> str | None:
    """Point the profile at a new image file (or none); returns the old file's name to delete."""
    old, user.profile_image = user.profile_image, stored_name
    commit_and_emit(_profile_events(user))
    return old


def _profile_events(user: User) -> Pending:
    pending = Pending()
    payload = serialize.user_public(user)
    pending.add(protocol.USER_PROFILE_UPDATED, dict(payload), user_id=user.id)
    for room_id in database.session.scalars(select(RoomMember.room_id).where(RoomMember.user_id == user.id)):
        pending.add(protocol.USER_PROFILE_UPDATED, dict(payload), room_id=room_id)
    return pending


def do_delete_account(user: User, ip: str | None, user_agent: str | None) -> str | None:
    """Anonymise the account: messages stay (as a deleted user's), everything personal goes.

    Returns the profile image file name for the caller to delete from disk.
    """
    pending = Pending()
    room_ids = list(database.session.scalars(select(RoomMember.room_id).where(RoomMember.user_id == user.id)))
    for room_id in room_ids:
        remove_membership(pending, database.session.get_one(Room, room_id), user.id, reason="account_deleted")
    database.session.execute(delete(Reaction).where(Reaction.user_id == user.id))
    database.session.execute(delete(PollVote).where(PollVote.user_id == user.id))
    # The files' bytes go with the next orphan sweep (jobs); their messages stay, anonymised.
    database.session.execute(update(RoomFile).where(RoomFile.uploaded_by == user.id, RoomFile.deleted_at.is_(None))
                             .values(deleted_at=datetime.now(timezone.utc)))
    delete_key_backup(user.id)
    revoke_all_device_sessions(user.id)
    image = user.profile_image
    user.username = f"deleted_{user.id}_{secrets.token_hex(4)}"
    user.nickname = "(deleted)"
    user.status_message = ""
    user.profile_image = None
    user.password_hash = "!"  # matches no password
    user.session_epoch += 1
    user.deleted_at = datetime.now(timezone.utc)
    record_audit("account_deleted", user.id, ip, user_agent)
    commit_and_emit(pending)
    for room_id in room_ids:
        unsubscribe_user_from_room(user.id, room_id)
    disconnect_user(user.id, "account_deleted")
    return image
