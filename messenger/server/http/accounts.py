"""Accounts (contract section 2): registration, browser login, password change, deletion."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, g, session
from sqlalchemy import func, select

from messenger.server import serialize, settings
from messenger.server.actions.accounts import (
    USERNAME_PATTERN,
    do_change_password,
    do_create_user,
    do_delete_account,
    remove_profile_file,
)
from messenger.server.actions.device_sessions import (
    do_create_device_session,
    do_record_browser_sign_out,
    do_revoke_device_session,
)
from messenger.server.auth import browser_device_session, client_address, cookie_user, login_required, user_agent
from messenger.server.bootstrap import PASSWORD_FILE
from messenger.server.db.models import AuditEvent, DeviceSession
from messenger.server.errors import ApiError
from messenger.server.extensions import database
from messenger.server.http.device_sessions import check_password_login, read_credentials
from messenger.server.params import json_body, take, take_text
from messenger.server.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, verify_password
from messenger.server.tokens import new_token

bp = Blueprint("accounts", __name__)


def take_new_password(data: dict[str, Any], name: str) -> str:
    password = take_text(data, name, 1, MAX_PASSWORD_LENGTH)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ApiError("PASSWORD_TOO_WEAK")
    return password


@bp.post("/api/register")
def register() -> tuple[dict[str, Any], int]:
    if not settings.get("self_registration"):
        raise ApiError("REGISTRATION_DISABLED")
    data = json_body()
    username = take_text(data, "username", 3, 20, pattern=USERNAME_PATTERN)
    password = take_new_password(data, "password")
    nickname = take_text(data, "nickname", 2, 20, default=None) or username
    user = do_create_user(username, password, nickname, ip=client_address())
    return {"success": True, "user": serialize.user_self(user)}, 201


@bp.post("/api/login")
def browser_login() -> dict[str, Any]:
    """Hybrid mode only: a cookie session for the browser UI."""
    if settings.desktop_only():
        raise ApiError("BROWSER_ACCESS_DISABLED")
    data = json_body()
    user = check_password_login(*read_credentials(data))
    remember = take(data, "remember", bool, default=False)
    # The browser is a device of its own (its keys, its line in the session list).
    device, _token = do_create_device_session(user, "browser", remember, client_address(), user_agent(),
                                              kind="browser")
    session.clear()
    session.update(user_id=user.id, epoch=user.session_epoch, csrf=new_token(), device_session_id=device.id)
    session.permanent = remember  # else the cookie ends with the browser; the device session ends it anyway
    return {"success": True, "user": serialize.user_self(user), "csrf_token": session["csrf"],
            "device_session_id": device.id, "expires_at": serialize.iso(device.expires_at)}


@bp.post("/api/logout")
def browser_logout() -> dict[str, Any]:
    user = cookie_user()
    device = browser_device_session(user) if user is not None else None
    if device is not None:
        do_revoke_device_session(device, device.user_id, client_address(), user_agent())
    elif user is not None:
        do_record_browser_sign_out(user, client_address(), user_agent())
    session.clear()
    return {"success": True}


@bp.get("/api/me")
@login_required
def me() -> dict[str, Any]:
    body: dict[str, Any] = {"user": serialize.user_self(g.user)}
    if g.browser:
        body["csrf_token"] = session.get("csrf")
        body["device_session_id"] = g.device_session.id
    return body


@bp.put("/api/me/password")
@login_required
def change_password() -> dict[str, Any]:
    data = json_body()
    current = take_text(data, "current_password", 1, MAX_PASSWORD_LENGTH)
    new = take_new_password(data, "new_password")
    if not verify_password(g.user.password_hash, current):
        raise ApiError("AUTH_WRONG_PASSWORD")
    do_change_password(g.user, new, client_address(), user_agent())
    if g.user.is_admin:
        # The first-run password is no longer the password: stop keeping it.
        Path(current_app.config["MESSENGER"].data_dir, PASSWORD_FILE).unlink(missing_ok=True)
    session.clear()
    return {"success": True, "relogin_required": True}


@bp.delete("/api/me")
@login_required
def delete_me() -> dict[str, Any]:
    password = take_text(json_body(), "password", 1, MAX_PASSWORD_LENGTH)
    if not verify_password(g.user.password_hash, password):
        raise ApiError("AUTH_WRONG_PASSWORD")
    remove_profile_file(do_delete_account(g.user, client_address(), user_agent()))
    session.clear()
    return {"success": True}


@bp.get("/api/security/audit")
@login_required
def my_audit() -> dict[str, Any]:
    """The caller's own access log, with counts and live devices."""
    rows = database.session.scalars(
        select(AuditEvent).where(AuditEvent.user_id == g.user.id).order_by(AuditEvent.id.desc()).limit(100)
    )
    since = datetime.now(timezone.utc) - timedelta(days=30)
    counts = dict(database.session.execute(
        select(AuditEvent.action, func.count()).where(AuditEvent.user_id == g.user.id, AuditEvent.created_at >= since)
        .group_by(AuditEvent.action)
    ).all())
    now = datetime.now(timezone.utc)
    devices = database.session.scalars(select(DeviceSession).where(
        DeviceSession.user_id == g.user.id, DeviceSession.revoked_at.is_(None), DeviceSession.expires_at > now))
    current_id = g.device_session.id if g.device_session else None
    return {
        "logs": [{"id": r.id, "action": r.action, "ip_address": r.ip_address, "user_agent": r.user_agent,
                  "created_at": serialize.iso(r.created_at)} for r in rows],
        "counts_30_days": counts,
        "devices": [serialize.device_session(d, current_id, now) for d in devices],
    }
