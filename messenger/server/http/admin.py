"""Platform administration (contract section 10); every route needs a platform admin.

Each route has a `messenger admin ...` twin (admin_cli.py); both call the same
functions in `actions.admin`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request

from messenger.server import settings
from messenger.server.actions import admin
from messenger.server.actions.accounts import USERNAME_PATTERN, do_create_user, remove_profile_file
from messenger.server.auth import client_address, platform_admin_required, user_agent
from messenger.server.errors import ApiError
from messenger.server.http.accounts import take_new_password
from messenger.server.params import invalid, json_body, query_flag, query_int, take, take_text

bp = Blueprint("admin", __name__)

USER_STATUSES = ("active", "disabled", "deleted")
AUDIT_MAX_LIMIT = 1000
ROOMS_MAX_LIMIT = 1000


def actor() -> admin.Actor:
    return admin.Actor(g.user.id, client_address(), user_agent())


@bp.get("/api/admin/users")
@platform_admin_required
def list_users() -> dict[str, Any]:
    status = request.args.get("status") or None
    if status is not None and status not in USER_STATUSES:
        raise invalid("status", f"must be one of {', '.join(USER_STATUSES)}")
    return {"users": admin.list_users(status)}


@bp.post("/api/admin/users")
@platform_admin_required
def create_user() -> tuple[dict[str, Any], int]:
    """A new account; without a password one is generated and answered once."""
    data = json_body()
    username = take_text(data, "username", 3, 20, pattern=USERNAME_PATTERN)
    password = take_new_password(data, "password") if data.get("password") is not None else None
    nickname = take_text(data, "nickname", 2, 20, default=None) or username
    is_admin = take(data, "is_admin", bool, default=False)
    generated = None
    if password is None:
        password = generated = admin.generate_password()
    user = do_create_user(username, password, nickname, is_admin=is_admin, actor_id=g.user.id, ip=client_address())
    body = {"success": True, "user": admin.admin_user(user)}
    if generated:
        body["generated_password"] = generated
    return body, 201


# Two actions, not one with a flag: disabling also signs the account out everywhere.
ACCOUNT_SWITCHES = {"disable": admin.do_disable_user, "enable": admin.do_enable_user}


@bp.post("/api/admin/users/<int:user_id>/<any(disable, enable):switch>")
@platform_admin_required
def switch_user(user_id: int, switch: str) -> dict[str, Any]:
    """`.../disable` or `.../enable`; `changed` is false when the account already was."""
    target = admin.find_user(user_id)
    changed = ACCOUNT_SWITCHES[switch](target, actor())
    return {"success": True, "changed": changed, "user": admin.admin_user(target)}


@bp.post("/api/admin/users/<int:user_id>/reset-password")
@platform_admin_required
def reset_password(user_id: int) -> dict[str, Any]:
    """`{new_password}` sets it; an empty body generates one, answered once."""
    data = json_body()
    new_password = take_new_password(data, "new_password") if data.get("new_password") is not None else None
    target = admin.find_user(user_id)
    generated = admin.do_reset_password(target, new_password, actor())
    body = {"success": True, "user": admin.admin_user(target)}
    if generated:
        body["generated_password"] = generated
    return body


@bp.delete("/api/admin/users/<int:user_id>")
@platform_admin_required
def delete_user(user_id: int) -> dict[str, Any]:
    target = admin.find_user(user_id)
    remove_profile_file(admin.do_delete_user(target, actor()))
    return {"success": True, "user": admin.admin_user(target)}


@bp.get("/api/admin/device-sessions")
@platform_admin_required
def list_device_sessions() -> dict[str, Any]:
    user_id = query_int("user_id", None, 1, 2**63 - 1)
    current_id = g.device_session.id if g.device_session else None
    return {"sessions": admin.list_device_sessions(user_id, query_flag("include_expired"), current_id)}


@bp.delete("/api/admin/device-sessions/<int:session_id>")
@platform_admin_required
def revoke_device_session(session_id: int) -> dict[str, Any]:
    device = admin.find_live_device_session(session_id)
    current = g.device_session is not None and g.device_session.id == device.id
    admin.do_revoke_device(device, actor())
    return {"success": True, "revoked": True, "current_revoked": current}


@bp.get("/api/admin/rooms")
@platform_admin_required
def list_rooms() -> dict[str, Any]:
    return admin.list_rooms(query_int("limit", 200, 1, ROOMS_MAX_LIMIT), query_int("offset", 0, 0, 2**31))


@bp.get("/api/admin/settings")
@platform_admin_required
def get_settings() -> dict[str, Any]:
    return admin.settings_view()


@bp.put("/api/admin/settings")
@platform_admin_required
def put_settings() -> dict[str, Any]:
    """Replace the settings named in the body (others stay); all are checked before any
    is stored, and the first bad one is answered with 400 naming its key."""
    data = json_body()
    if not data:
        raise invalid("settings", "give at least one setting to change")
    try:
        changes = {key: settings.validate(key, value) for key, value in data.items()}
    except settings.SettingInvalid as exc:
        raise ApiError("VALIDATION_ERROR", detail=str(exc)) from None
    return admin.do_update_settings(changes, actor())


@bp.get("/api/admin/audit")
@platform_admin_required
def audit() -> dict[str, Any]:
    """Filters: `user_id`, `action` (comma-separated), `since`/`until` (ISO times), `limit`, `offset`."""
    times = {}
    for name in ("since", "until"):
        raw = request.args.get(name)
        try:
            times[name] = admin.parse_time(name, raw) if raw else None
        except ValueError as exc:
            raise ApiError("VALIDATION_ERROR", detail=str(exc)) from None
    actions = [a.strip() for a in request.args.get("action", "").split(",") if a.strip()]
    return admin.audit_entries(
        user_id=query_int("user_id", None, 1, 2**63 - 1), actions=actions, **times,
        limit=query_int("limit", 100, 1, AUDIT_MAX_LIMIT), offset=query_int("offset", 0, 0, 2**31))
