"""Device sessions: the desktop login. Tokens are handed out once; only their hashes are kept."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from messenger.server.actions.audit import record_audit
from messenger.server.actions.events import close_sockets
from messenger.server.db.models import DeviceSession, User
from messenger.server.extensions import database
from messenger.server.presence import presence
from messenger.server.tokens import hash_token, new_token

TTL_REMEMBER_DAYS = 30
TTL_SESSION_DAYS = 1
# last_used_at is refreshed at most this often, so reads don't turn into writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def do_note_device_use(device: DeviceSession, now: datetime) -> None:
    """A request came with this device's token: remember when (to the minute)."""
    if now - device.last_used_at > LAST_USED_RESOLUTION:
        device.last_used_at = now
        database.session.commit()


def do_record_failed_sign_in(user: User | None, username: str, ip: str, user_agent: str) -> None:
    """A wrong password (or an unknown user): kept in the audit log, also when the answer is an error."""
    record_audit("login_failed", user.id if user else None, ip, user_agent, username=username[:64])
    database.session.commit()


def do_record_browser_sign_out(user: User, ip: str, user_agent: str) -> None:
    record_audit("logout", user.id, ip, user_agent, browser=True)
    database.session.commit()


def do_create_device_session(user: User, device_name: str, remember: bool, ip: str, user_agent: str,
                             kind: str = "desktop") -> tuple[DeviceSession, str]:
    """A new device session; returns it and the token (shown to the device, never stored; a
    browser's is not shown either: its cookie names the session)."""
    token = new_token()
    ttl_days = TTL_REMEMBER_DAYS if remember else TTL_SESSION_DAYS
    now = datetime.now(timezone.utc)
    device = DeviceSession(
        user_id=user.id, device_id=uuid.uuid4().hex, token_hash=hash_token(token), device_name=device_name,
        created_at=now, last_used_at=now, expires_at=now + timedelta(days=ttl_days), ip=ip,
        user_agent=user_agent, remember=remember, ttl_days=ttl_days, kind=kind,
    )
    database.session.add(device)
    database.session.flush()
    record_audit("login_success", user.id, ip, user_agent, device_session_id=device.id, device_name=device_name,
                 **({"browser": True} if kind == "browser" else {}))
    database.session.commit()
    return device, token


def do_rotate_device_token(device: DeviceSession, ip: str, user_agent: str) -> str:
    """Replace the token of a live session: the old one dies, id/name/remember/TTL stay."""
    token = new_token()
    now = datetime.now(timezone.utc)
    device.token_hash = hash_token(token)
    device.expires_at = now + timedelta(days=device.ttl_days)
    device.last_used_at = now
    device.ip = ip
    record_audit("token_refresh", device.user_id, ip, user_agent, device_session_id=device.id)
    database.session.commit()
    return token


def do_revoke_device_session(device: DeviceSession, actor_id: int | None, ip: str | None, user_agent: str | None,
                             reason: str = "logout") -> None:
    device.revoked_at = datetime.now(timezone.utc)
    record_audit("token_revoke", device.user_id, ip, user_agent, device_session_id=device.id, reason=reason,
                 actor_id=actor_id)
    database.session.commit()
    close_sockets(presence().sids(device.user_id, device.id), reason)


def revoke_all_device_sessions(user_id: int) -> None:
    """Stage the revocation of every live session of a user; the caller commits, then calls
    `disconnect_user`."""
    database.session.execute(
        update(DeviceSession)
        .where(DeviceSession.user_id == user_id, DeviceSession.revoked_at.is_(None))
        .values(revoked_at=datetime.now(timezone.utc))
    )


def disconnect_user(user_id: int, reason: str) -> None:
    close_sockets(presence().sids(user_id), reason)
