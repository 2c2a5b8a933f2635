"""Who is calling: device tokens (Bearer) or, in hybrid mode, a browser cookie session.

Every route that needs a caller uses `@login_required`; it sets `g.user`,
`g.device_session` (a browser's sign-in is a device session too, of kind "browser",
whose token is never handed out: the cookie names it) and `g.browser`.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timezone
from functools import wraps
from typing import Callable, ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import current_app, g, request, session
from sqlalchemy import select

from messenger.server.actions.device_sessions import do_note_device_use
from messenger.server.errors import ApiError
from messenger.server.extensions import database
from messenger.server.db.models import DeviceSession, User
from messenger.server import settings
from messenger.server.tokens import hash_token

P = ParamSpec("P")
R = TypeVar("R")

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def live_device_session(token: str | None) -> tuple[DeviceSession, User] | None:
    """The device session and user behind `token`, if it is live and the account usable."""
    if not token or len(token) > 200:
        return None
    now = datetime.now(timezone.utc)
    row = database.session.execute(
        select(DeviceSession, User)
        .join(User, User.id == DeviceSession.user_id)
        .where(DeviceSession.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    device, user = row
    if device.revoked_at or device.expires_at <= now or user.disabled_at or user.deleted_at:
        return None
    do_note_device_use(device, now)
    return device, user


def cookie_user() -> User | None:
    """The browser session's user, if the cookie is still valid (epoch unchanged)."""
    user_id = session.get("user_id")
    if user_id is None:
        return None
    user = database.session.get(User, user_id)
    if user is None or user.disabled_at or user.deleted_at or session.get("epoch") != user.session_epoch:
        session.clear()
        return None
    return user


def browser_device_session(user: User) -> DeviceSession | None:
    """The live device session the browser's cookie names (its keys, its place in the
    session list); None once it is revoked or expired."""
    device = database.session.get(DeviceSession, session.get("device_session_id") or 0)
    if (device is None or device.user_id != user.id or device.kind != "browser" or device.revoked_at
            or device.expires_at <= datetime.now(timezone.utc)):
        return None
    return device


def origin_allowed(origin: str | None) -> bool:
    """Same host, or a configured origin; desktop clients send no Origin at all."""
    if not origin:
        return True
    if origin in current_app.config["MESSENGER"].allowed_origins:
        return True
    return urlsplit(origin).netloc == request.host


def check_browser_request() -> None:
    """Cookie-session rules: only in hybrid mode, same origin, CSRF token on every change."""
    if settings.desktop_only():
        raise ApiError("BROWSER_ACCESS_DISABLED")
    if not origin_allowed(request.headers.get("Origin")):
        raise ApiError("ORIGIN_NOT_ALLOWED")
    if request.method in UNSAFE_METHODS:
        sent = request.headers.get("X-CSRFToken", "")
        if not hmac.compare_digest(sent, session.get("csrf", "")) or not sent:
            raise ApiError("CSRF_FAILED")


def authenticate() -> User:
    token = bearer_token()
    if token:
        found = live_device_session(token)
        if found is None:
            raise ApiError("AUTH_TOKEN_INVALID_OR_EXPIRED")
        g.device_session, g.user = found
        g.browser = False
        return found[1]
    if "user_id" in session:
        check_browser_request()
        user = cookie_user()
        if user is not None:
            device = browser_device_session(user)
            if device is None:
                session.clear()
                raise ApiError("AUTH_TOKEN_INVALID_OR_EXPIRED")
            g.device_session, g.user, g.browser = device, user, True
            return user
    raise ApiError("AUTH_REQUIRED")


def login_required(view: Callable[P, R]) -> Callable[P, R]:
    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        authenticate()
        return view(*args, **kwargs)

    return wrapper


def platform_admin_required(view: Callable[P, R]) -> Callable[P, R]:
    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if not authenticate().is_admin:
            raise ApiError("PLATFORM_ADMIN_REQUIRED")
        return view(*args, **kwargs)

    return wrapper


def client_address() -> str:
    return request.remote_addr or "unknown"


def user_agent() -> str:
    return (request.headers.get("User-Agent") or "")[:255]
