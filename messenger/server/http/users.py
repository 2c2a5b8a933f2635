"""Users, presence and profiles (contract section 2)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response, current_app, g, request, send_file
from sqlalchemy import Select, select

from messenger.core.media import IMAGE_EXTENSIONS, IMAGE_MIME_TYPES, sniff_image
from messenger.server import serialize
from messenger.server.actions.accounts import do_set_profile_image, do_update_profile, profile_dir, remove_profile_file
from messenger.server.auth import login_required
from messenger.server.db.models import User
from messenger.server.errors import ApiError
from messenger.server.extensions import database
from messenger.server.presence import presence
from messenger.server.params import json_body, take_text

bp = Blueprint("users", __name__)


def active_users() -> Select[User]:
    return select(User).where(User.deleted_at.is_(None), User.disabled_at.is_(None)).order_by(User.id)


@bp.get("/api/users")
@login_required
def list_users() -> dict[str, Any]:
    return {"users": [serialize.user_public(u) for u in database.session.scalars(active_users())]}


@bp.get("/api/users/online")
@login_required
def online_users() -> dict[str, Any]:
    ids = sorted(presence().online_user_ids())
    users: Iterable[User] = database.session.scalars(active_users().where(User.id.in_(ids))) if ids else []
    return {"users": [serialize.user_public(u) for u in users]}


@bp.get("/api/profile")
@login_required
def get_profile() -> dict[str, Any]:
    return {"user": serialize.user_self(g.user)}


@bp.put("/api/profile")
@login_required
def update_profile() -> dict[str, Any]:
    data = json_body()
    nickname = take_text(data, "nickname", 2, 20, default=None)
    status_message = take_text(data, "status_message", 0, 100, default=None)
    do_update_profile(g.user, nickname, status_message)
    return {"success": True, "user": serialize.user_self(g.user)}


@bp.post("/api/profile/image")
@login_required
def upload_profile_image() -> dict[str, Any]:
    limit = current_app.config["MESSENGER"].max_image_bytes
    request.max_content_length = limit + 64 * 1024  # the form's own bytes
    upload = request.files.get("file") or request.files.get("image")
    if upload is None:
        raise ApiError("VALIDATION_ERROR", detail="file: is required")
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise ApiError("PAYLOAD_TOO_LARGE")
    kind = sniff_image(data)
    if kind is None:
        raise ApiError("IMAGE_INVALID")
    name = f"{g.user.id}_{secrets.token_hex(16)}.{IMAGE_EXTENSIONS[kind]}"
    (profile_dir() / name).write_bytes(data)
    remove_profile_file(do_set_profile_image(g.user, name))
    return {"success": True, "user": serialize.user_self(g.user)}


@bp.delete("/api/profile/image")
@login_required
def delete_profile_image() -> dict[str, Any]:
    remove_profile_file(do_set_profile_image(g.user, None))
    return {"success": True, "user": serialize.user_self(g.user)}


@bp.get("/api/users/<int:user_id>/profile-image")
@login_required
def profile_image(user_id: int) -> Response:
    user = database.session.get(User, user_id)
    if user is None or not user.profile_image:
        raise ApiError("NOT_FOUND")
    path = profile_dir() / user.profile_image
    kind = sniff_image(path.read_bytes()[:16])
    if kind is None:  # the stored file is no image any more
        raise ApiError("NOT_FOUND")
    response = send_file(path, mimetype=IMAGE_MIME_TYPES[kind], max_age=300)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
