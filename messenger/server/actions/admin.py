"""Platform administration (contract section 10): the work behind `/api/admin/...` and
`messenger admin ...`, shared by both so they behave the same.

Every change records an audit row naming the actor (`actor_id`; None when it came from
the command line, whose `user_agent` then says so). The command line may run beside a
live server: its changes are in the shared database at once, and the server itself
closes the sockets they end (see `close_ended_sockets`, run by `jobs`).
"""

from __future__ import annotations

import getpass
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import case, func, or_, select, update

from messenger.server import serialize, settings
from messenger.server.actions.accounts import do_change_password, do_delete_account
from messenger.server.actions.audit import record_audit
from messenger.server.actions.device_sessions import (
    disconnect_user,
    do_revoke_device_session,
    revoke_all_device_sessions,
)
from messenger.server.actions.events import close_sockets
from messenger.server.db.models import AuditEvent, DeviceSession, Message, Room, RoomMember, User
from messenger.server.errors import ApiError
from messenger.server.extensions import database
from messenger.server.presence import presence
from messenger.server.passwords import MIN_PASSWORD_LENGTH

# Long enough to be safe, short enough to read out over the phone.
GENERATED_PASSWORD_BYTES = 12


@dataclass(frozen=True)
class Actor:
    """Who asks for an admin change: a signed-in platform admin, or the command line."""

    user_id: int | None
    ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def command_line(cls) -> "Actor":
        try:
            who = getpass.getuser()
        except Exception:  # noqa: BLE001 - no login name (some service accounts)
            who = "unknown"
        return cls(None, None, f"messenger admin (cli, os user {who})")


def user_status(user: User) -> str:
    if user.deleted_at is not None:
        return "deleted"
    return "disabled" if user.disabled_at is not None else "active"


def generate_password() -> str:
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


# --- reading -------------------------------------------------------------------------------

def find_user(user_id: int) -> User:
    """A user an admin may act on (not deleted: deletion is final), or USER_NOT_FOUND."""
    user = database.session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise ApiError("USER_NOT_FOUND")
    return user


def find_user_by_name_or_id(name_or_id: str) -> User:
    """For the command line: a username (any case), else a numeric id (deleted users keep
    only their id, since deletion renames them)."""
    user = database.session.scalar(select(User).where(func.lower(User.username) == name_or_id.lower()))
    if user is None and name_or_id.isdigit():
        user = database.session.get(User, int(name_or_id))
    if user is None:
        raise ApiError("USER_NOT_FOUND")
    return user


def list_users(status: str | None = None, user_id: int | None = None) -> list[dict[str, Any]]:
    """Every account (or one) with its status, role, last login and live device count."""
    now = datetime.now(timezone.utc)
    last_login = (select(AuditEvent.created_at)
                  .where(AuditEvent.user_id == User.id, AuditEvent.action == "login_success")
                  .order_by(AuditEvent.id.desc()).limit(1).correlate(User).scalar_subquery())
    last_seen = (select(func.max(DeviceSession.last_used_at))
                 .where(DeviceSession.user_id == User.id).correlate(User).scalar_subquery())
    live_devices = (select(func.count()).select_from(DeviceSession)
                    .where(DeviceSession.user_id == User.id, DeviceSession.revoked_at.is_(None),
                           DeviceSession.expires_at > now).correlate(User).scalar_subquery())
    query = select(User, last_login, last_seen, live_devices).order_by(User.id)
    if user_id is not None:
        query = query.where(User.id == user_id)
    if status == "active":
        query = query.where(User.deleted_at.is_(None), User.disabled_at.is_(None))
    elif status == "disabled":
        query = query.where(User.deleted_at.is_(None), User.disabled_at.is_not(None))
    elif status == "deleted":
        query = query.where(User.deleted_at.is_not(None))
    return [_admin_user(user, login, seen, devices)
            for user, login, seen, devices in database.session.execute(query)]


def _admin_user(user: User, last_login: datetime | None, last_seen: datetime | None,
                live_devices: int | None) -> dict[str, Any]:
    return {
        **serialize.user_public(user),
        "status": user_status(user),
        "created_at": serialize.iso(user.created_at),
        "disabled_at": serialize.iso(user.disabled_at),
        "deleted_at": serialize.iso(user.deleted_at),
        "last_login": serialize.iso(last_login),
        "last_seen": serialize.iso(last_seen),
        "live_devices": live_devices or 0,
    }


def admin_user(user: User) -> dict[str, Any]:
    """One account as `list_users` shows it."""
    [row] = list_users(user_id=user.id)
    return row


def list_device_sessions(user_id: int | None = None, include_expired: bool = False,
                         current_id: int | None = None) -> list[dict[str, Any]]:
    """Live device sessions of everyone (or one user); expired ones too if asked."""
    now = datetime.now(timezone.utc)
    query = (select(DeviceSession, User).join(User, User.id == DeviceSession.user_id)
             .where(DeviceSession.revoked_at.is_(None)).order_by(DeviceSession.id))
    if user_id is not None:
        query = query.where(DeviceSession.user_id == user_id)
    if not include_expired:
        query = query.where(DeviceSession.expires_at > now)
    return [{**serialize.device_session(device, current_id, now), "user_id": user.id, "username": user.username}
            for device, user in database.session.execute(query)]


def find_live_device_session(session_id: int) -> DeviceSession:
    device = database.session.get(DeviceSession, session_id)
    if device is None or device.revoked_at is not None:
        raise ApiError("DEVICE_SESSION_NOT_FOUND")
    return device


def list_rooms(limit: int, offset: int) -> dict[str, Any]:
    """Every room with its member count, message count and last message time."""
    members = (select(RoomMember.room_id, func.count().label("n"))
               .group_by(RoomMember.room_id).subquery("member_counts"))
    # Counted on the (room_id, id) index alone; the newest id gives the last message's time.
    messages = (select(Message.room_id, func.count().label("n"), func.max(Message.id).label("last_id"))
                .group_by(Message.room_id).subquery("message_counts"))
    rows = database.session.execute(
        select(Room, members.c.n, messages.c.n, Message.created_at)
        .outerjoin(members, members.c.room_id == Room.id)
        .outerjoin(messages, messages.c.room_id == Room.id)
        .outerjoin(Message, Message.id == messages.c.last_id)
        .order_by(Room.id).limit(limit).offset(offset))
    total = database.session.scalar(select(func.count()).select_from(Room))
    return {
        "rooms": [{**serialize.room_basic(room), "member_count": member_count or 0,
                   "message_count": message_count or 0, "last_message_at": serialize.iso(last_at)}
                  for room, member_count, message_count, last_at in rows],
        "total": total, "limit": limit, "offset": offset,
    }


def parse_time(name: str, raw: str) -> datetime:
    """An ISO-8601 time; one without an offset is taken as UTC. ValueError names `name`."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(f"{name}: must be an ISO-8601 time like 2026-11-25T10:00:00+00:00") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def audit_entries(user_id: int | None = None, actions: list[str] | None = None, since: datetime | None = None,
                  until: datetime | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """The security log, newest first, filtered; `actor_id` is lifted out of the details."""
    query = select(AuditEvent, User.username).outerjoin(User, User.id == AuditEvent.user_id)
    if user_id is not None:
        query = query.where(AuditEvent.user_id == user_id)
    if actions:
        query = query.where(AuditEvent.action.in_(actions))
    if since is not None:
        query = query.where(AuditEvent.created_at >= since)
    if until is not None:
        query = query.where(AuditEvent.created_at < until)
    rows = database.session.execute(query.order_by(AuditEvent.id.desc()).limit(limit).offset(offset))
    entries = []
    for row, username in rows:
        details = dict(row.details or {})
        entries.append({"id": row.id, "created_at": serialize.iso(row.created_at), "action": row.action,
                        "user_id": row.user_id, "username": username, "actor_id": details.pop("actor_id", None),
                        "ip_address": row.ip_address, "user_agent": row.user_agent, "details": details})
    return {"entries": entries, "limit": limit, "offset": offset}


def settings_view() -> dict[str, Any]:
    """The stored settings (defaults filled in) and the mode actually in force."""
    return {"settings": settings.get_all(), "desktop_only_mode": settings.desktop_only(),
            "mode_forced_by_environment": settings.mode_forced() is not None}


# --- changes -------------------------------------------------------------------------------

def _refuse_self(actor: Actor, target: User) -> None:
    if actor.user_id is not None and actor.user_id == target.id:
        raise ApiError("ADMIN_SELF_ACTION")


def _keep_an_admin() -> None:
    """Checked after the change is flushed, inside the write transaction, so two admins
    disabling each other at the same moment cannot both succeed."""
    database.session.flush()
    remaining = database.session.scalar(select(func.count()).select_from(User).where(
        User.is_admin.is_(True), User.disabled_at.is_(None), User.deleted_at.is_(None)))
    if remaining == 0:
        database.session.rollback()
        raise ApiError("LAST_PLATFORM_ADMIN")


def do_disable_user(target: User, actor: Actor) -> bool:
    """Stop an account: every device session is revoked, browser cookies die (the session
    epoch moves) and every socket is closed. Returns False if it was already disabled."""
    _refuse_self(actor, target)
    if target.disabled_at is not None:
        return False
    target.disabled_at = datetime.now(timezone.utc)
    target.session_epoch += 1
    _keep_an_admin()
    revoke_all_device_sessions(target.id)
    record_audit("account_disabled", target.id, actor.ip, actor.user_agent, actor_id=actor.user_id)
    database.session.commit()
    disconnect_user(target.id, "account_disabled")
    return True


def do_enable_user(target: User, actor: Actor) -> bool:
    """Let a disabled account sign in again (its old sessions stay revoked)."""
    if target.disabled_at is None:
        return False
    target.disabled_at = None
    record_audit("account_enabled", target.id, actor.ip, actor.user_agent, actor_id=actor.user_id)
    database.session.commit()
    return True


def do_reset_password(target: User, new_password: str | None, actor: Actor) -> str | None:
    """Set a new password (a generated one if none is given, returned to be shown once);
    every device session and socket of the account ends, as on any password change."""
    generated = None
    if new_password is None:
        new_password = generated = generate_password()
    if len(new_password) < MIN_PASSWORD_LENGTH:
        raise ApiError("PASSWORD_TOO_WEAK")
    do_change_password(target, new_password, actor.ip, actor.user_agent, actor_id=actor.user_id)
    return generated


def do_delete_user(target: User, actor: Actor) -> str | None:
    """Delete an account as `DELETE /api/me` does (messages anonymised, the rest removed).

    Returns the profile image file name for the caller to delete from disk.
    """
    _refuse_self(actor, target)
    target.deleted_at = datetime.now(timezone.utc)
    _keep_an_admin()
    # Staged before the deletion's own commit, so both rows land in one transaction.
    record_audit("account_deleted_by_admin", target.id, actor.ip, actor.user_agent, actor_id=actor.user_id)
    return do_delete_account(target, actor.ip, actor.user_agent)


def do_revoke_device(device: DeviceSession, actor: Actor) -> None:
    """Force one device of any user to sign out; its sockets close."""
    do_revoke_device_session(device, actor.user_id, actor.ip, actor.user_agent, reason="revoked_by_admin")


def do_update_settings(changes: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """Store already validated settings in one transaction; returns `settings_view()`.

    Switching to desktop-only signs every browser out (their device sessions are revoked, so
    their keys get nothing more even if the mode comes back) and closes their sockets at once
    (new ones are refused at connect); the rest takes effect on the next request.
    """
    for key, value in changes.items():
        settings.put(key, value)
    if "mode" in changes and settings.desktop_only():
        database.session.execute(update(DeviceSession).where(DeviceSession.kind == "browser",
                                                             DeviceSession.revoked_at.is_(None))
                                 .values(revoked_at=datetime.now(timezone.utc)))
    record_audit("settings_changed", actor.user_id, actor.ip, actor.user_agent, actor_id=actor.user_id,
                 changes=changes)
    database.session.commit()
    if "mode" in changes and settings.desktop_only():
        close_ended_sockets()
    return settings_view()


# How far back each round looks for sign-ins that ended: a change committed a little after
# the time it carries, or a round that came late, is still seen.
ENDED_LOOK_BACK = timedelta(minutes=10)


def close_ended_sockets() -> int:
    """Close this process's sockets of sign-ins that ended where none of them saw it
    (`messenger admin` beside a running server) or by time (an expired device session);
    returns how many sign-ins (device sessions, a browser's included) it closed.

    Changes made by an action close their sockets at once, on any process (`close_sockets`).
    Each process sweeps its own sockets (the database is shared). A round reads only what
    ended lately: accounts disabled or deleted, device sessions revoked or expired, users
    with recent audit rows (a password change moves a browser cookie's epoch) and the mode;
    it looks at sockets only when one of those came back, so an idle office costs nothing
    per socket.
    """
    local = presence().local
    if not local:
        return 0
    now = datetime.now(timezone.utc)
    since = now - ENDED_LOOK_BACK
    ended_users: dict[int, str] = dict(database.session.execute(
        select(User.id, case((User.deleted_at.is_not(None), "account_deleted"), else_="account_disabled"))
        .where(or_(User.disabled_at > since, User.deleted_at > since))).all())
    ended_devices: dict[int, str] = dict(database.session.execute(
        select(DeviceSession.id, case((DeviceSession.revoked_at.is_not(None), "revoked"), else_="expired"))
        .where(or_(DeviceSession.revoked_at > since,
                   (DeviceSession.expires_at > since) & (DeviceSession.expires_at <= now)))).all())
    browsers_refused = settings.desktop_only()
    epochs = dict(database.session.execute(
        select(User.id, User.session_epoch).where(User.id.in_(
            select(AuditEvent.user_id).where(AuditEvent.created_at > since)))).all())
    if not (ended_users or ended_devices or epochs or browsers_refused):
        return 0
    ended: dict[int, list[str]] = {}  # a device session -> its sockets here
    reasons: dict[int, str] = {}
    for sid, caller in list(local.items()):
        reason: str | None
        if caller.user_id in ended_users:
            reason = ended_users[caller.user_id]
        elif caller.browser and browsers_refused:
            reason = "browser_access_disabled"
        elif caller.browser and caller.user_id in epochs and caller.session_epoch != epochs[caller.user_id]:
            reason = "session_ended"  # a password change or reset: the cookie's epoch is old
        else:
            reason = ended_devices.get(caller.device_session_id)
        if reason is None:
            continue
        ended.setdefault(caller.device_session_id, []).append(sid)
        reasons[caller.device_session_id] = reason
    for device_session_id, sids in ended.items():
        close_sockets(sids, reasons[device_session_id])
    return len(ended)
