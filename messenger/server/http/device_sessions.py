"""Device sessions (contract section 1): sign in a desktop device, rotate, revoke, list."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, current_app, g, request
from sqlalchemy import func, select

from messenger.server import serialize
from messenger.server.actions.accounts import do_upgrade_password_hash
from messenger.server.actions.device_sessions import (
    do_create_device_session,
    do_record_failed_sign_in,
    do_revoke_device_session,
    do_rotate_device_token,
)
from messenger.server.auth import (
    bearer_token,
    client_address,
    live_device_session,
    login_required,
    user_agent,
)
from messenger.server.bootstrap import is_first_run_password
from messenger.server.db.models import DeviceSession, User
from messenger.server.errors import ApiError
from messenger.server.extensions import database
from messenger.server.params import json_body, query_flag, take, take_text
from messenger.server.passwords import MAX_PASSWORD_LENGTH, needs_rehash, verify_password
from messenger.server.tokens import new_token

bp = Blueprint("device_sessions", __name__)


def check_password_login(username: str, password: str) -> User:
    """The user if the password is right; throttled per (account, address) and per address.

    An unknown user and a wrong password get the same answer after the same work.
    """
    throttle = current_app.extensions["login_throttle"]
    address = client_address()
    wait = throttle.retry_after(username, address)
    if wait:
        raise ApiError("RATE_LIMITED", headers={"Retry-After": str(wait)})
    user = database.session.scalar(select(User).where(func.lower(User.username) == username.lower(),
                                                      User.deleted_at.is_(None)))
    if not verify_password(user.password_hash if user else None, password) or user is None:
        throttle.failed(username, address)
        do_record_failed_sign_in(user, username, address, user_agent())
        raise ApiError("AUTH_INVALID_CREDENTIALS")
    throttle.succeeded(username, address)
    if user.disabled_at:
        raise ApiError("AUTH_ACCOUNT_DISABLED")
    if needs_rehash(user.password_hash):
        do_upgrade_password_hash(user, password)
    return user


def read_credentials(data: dict[str, Any]) -> tuple[str, str]:
    return (take_text(data, "username", 1, 64), take_text(data, "password", 1, MAX_PASSWORD_LENGTH))


@bp.post("/api/device-sessions")
def create() -> tuple[dict[str, Any], int]:
    data = json_body()
    username, password = read_credentials(data)
    device_name = take_text(data, "device_name", 0, 100, default="") or "desktop"
    remember = take(data, "remember", bool, default=True)
    user = check_password_login(username, password)
    device, token = do_create_device_session(user, device_name, remember, client_address(), user_agent())
    return {
        "access_ok": True,
        "device_token": token,
        "expires_at": serialize.iso(device.expires_at),
        "user": serialize.user_self(user),
        "csrf_token": new_token(),  # kept for v4 clients; Bearer requests need no CSRF token
        "device_session_id": device.id,
        "remember": device.remember,
        # The first-run admin still uses the password printed at the first start: the app asks for another.
        "password_is_initial": user.is_admin and is_first_run_password(
            current_app.config["MESSENGER"].data_dir, user.username, password),
    }, 201


def presented_token() -> str | None:
    """Refresh takes the token from the Bearer header, `X-Device-Token`, or the body."""
    body = request.get_json(silent=True)
    from_body = body.get("device_token") if isinstance(body, dict) else None
    return bearer_token() or request.headers.get("X-Device-Token") or (from_body if isinstance(from_body, str) else None)


@bp.post("/api/device-sessions/refresh")
def refresh() -> dict[str, Any]:
    found = live_device_session(presented_token())
    if found is None:
        raise ApiError("AUTH_TOKEN_INVALID_OR_EXPIRED")
    device, user = found
    token = do_rotate_device_token(device, client_address(), user_agent())
    return {
        "access_ok": True,
        "device_token_rotated": token,
        "expires_at": serialize.iso(device.expires_at),
        "user": serialize.user_self(user),
        "csrf_token": new_token(),
        "device_session_id": device.id,
        "remember": device.remember,
    }


@bp.delete("/api/device-sessions/current")
@login_required
def revoke_current() -> dict[str, Any]:
    if g.device_session is None:
        raise ApiError("AUTH_REQUIRED", detail="This call needs a device token.")
    do_revoke_device_session(g.device_session, g.user.id, client_address(), user_agent())
    return {"success": True, "revoked": True}


@bp.get("/api/device-sessions")
@login_required
def list_sessions() -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    query = select(DeviceSession).where(DeviceSession.user_id == g.user.id, DeviceSession.revoked_at.is_(None))
    if not query_flag("include_expired"):
        query = query.where(DeviceSession.expires_at > now)
    current_id = g.device_session.id if g.device_session else None
    rows = database.session.scalars(query.order_by(DeviceSession.id))
    return {"sessions": [serialize.device_session(row, current_id, now) for row in rows]}


@bp.delete("/api/device-sessions/<int:session_id>")
@login_required
def revoke_one(session_id: int) -> dict[str, Any]:
    device = database.session.get(DeviceSession, session_id)
    if device is None or device.user_id != g.user.id or device.revoked_at is not None:
        raise ApiError("NOT_FOUND")
    current = g.device_session is not None and g.device_session.id == device.id
    do_revoke_device_session(device, g.user.id, client_address(), user_agent(), reason="revoked_by_user")
    return {"success": True, "current_revoked": current}
