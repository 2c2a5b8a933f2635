"""Connection, subscriptions and the shared wrapper every socket event goes through.

A socket authenticates once, at connect, with `auth={"token": ...}` (or, in hybrid
mode, the browser's cookie session). Revoking the token closes the socket, so the
identity remembered (`socket_access`) stays true for the socket's life.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from flask import current_app, request, session
from flask_socketio import ConnectionRefusedError, SocketIO
from sqlalchemy import select

from messenger.core import protocol
from messenger.core.errors import pick_locale
from messenger.server import settings
from messenger.server.actions.events import device_channel, room_channel, user_channel
from messenger.server.actions.presence import do_socket_connected, forget_socket, member_room_ids
from messenger.server.auth import browser_device_session, cookie_user, live_device_session
from messenger.server.db.models import DeviceSession, RoomMember, User
from messenger.server.errors import ApiError, error_body
from messenger.server.extensions import database, socketio
from messenger.server.params import fits_64_bits, take
from messenger.server.presence import presence
from messenger.server.socket_access import SocketCaller


def socket_error(code: str, locale: str, detail: str | None = None) -> dict[str, Any]:
    """The HTTP error body plus `ok: false` and the contract's socket names of the same fields."""
    body = error_body(code, locale, detail)
    return {"ok": False, **body, "message": body["error"], "message_code": code,
            "message_localized": body["error_localized"]}


def refuse(code: str, locale: str) -> ConnectionRefusedError:
    refusal = ConnectionRefusedError()
    # Sent as the CONNECT_ERROR data as is: the client gets the contract's error shape.
    refusal.error_args = socket_error(code, locale)
    return refusal


Handler = Callable[[SocketCaller, dict[str, Any]], dict[str, Any] | None]
AnyHandler = TypeVar("AnyHandler", bound=Handler)

# name -> fn(caller, data): filled at import by `socket_event`, bound to each app's server by `bind_events`
EVENTS: dict[str, Handler] = {}


def socket_event(name: str) -> Callable[[AnyHandler], AnyHandler]:
    """Register a handler `fn(caller, data)`; its dict result is the ack.

    ApiError (from validation or `access_*`) becomes an `{ok: false, ...}` ack and an
    `error` event; the handler never sees a socket whose sign-in has not been checked or
    has ended (`socket_access`: no database read per event).
    """

    def decorate(fn: AnyHandler) -> AnyHandler:
        EVENTS[name] = fn
        return fn

    return decorate


def _dispatch(server: Any, name: str, fn: Handler) -> Callable[..., dict[str, Any] | None]:
    """The handler python-socketio calls. Flask-SocketIO's own would build a Flask request
    context per event (URL routing, the cookie session: a fifth of the send path's CPU); an
    event needs only its app's context, and the socket's sign-in is its `SocketCaller`."""

    def handler(sid: str, data: object = None) -> dict[str, Any] | None:
        environ = server.get_environ(sid)
        if environ is None:  # gone meanwhile
            return None
        with environ["flask.app"].app_context():
            caller = presence().local.get(sid)
            if caller is None:
                return socket_error("AUTH_REQUIRED", "ko-KR")
            try:
                if not isinstance(data, dict):
                    raise ApiError("VALIDATION_ERROR", detail="the event data must be an object")
                return {"ok": True, **(fn(caller, data) or {})}
            except Exception as exc:
                database.session.rollback()
                if isinstance(exc, ApiError):
                    error = socket_error(exc.code, caller.locale, exc.detail)
                else:  # answered like HTTP's 500; the payload may hold message text, so it is not logged
                    current_app.logger.exception("unhandled error in socket event %s", name)
                    error = socket_error("INTERNAL_ERROR", caller.locale)
                server.emit(protocol.ERROR, error, to=sid)
                return error

    return handler


def _on_disconnect(server: Any) -> Callable[..., None]:
    def handler(sid: str, *_reason: object) -> None:
        environ = server.get_environ(sid)
        if environ is not None:
            with environ["flask.app"].app_context():
                forget_socket(sid)

    return handler


def bind_events(binding: SocketIO) -> None:
    """Put the socket events on the Socket.IO server that `binding` (Flask-SocketIO's object)
    made in `init_app`. The connect stays with Flask-SocketIO: it reads the cookie session, the
    query and the headers."""
    binding.on_event("connect", on_connect)
    server = binding.server
    server.on("disconnect", _on_disconnect(server), namespace="/")
    for name, fn in EVENTS.items():
        server.on(name, _dispatch(server, name, fn), namespace="/")


def _locale(auth: object) -> str:
    lang = auth.get("lang") if isinstance(auth, dict) else None
    return pick_locale(lang, request.args.get("lang"), request.headers.get("Accept-Language"))


def on_connect(auth: object = None) -> None:
    locale = _locale(auth)
    user: User | None
    device: DeviceSession | None
    token = auth.get("token") if isinstance(auth, dict) else None
    if isinstance(token, str) and token:
        found = live_device_session(token)
        if found is None:
            raise refuse("AUTH_TOKEN_INVALID_OR_EXPIRED", locale)
        device, user = found
        device_id, browser = device.id, False
    elif "user_id" in session:
        if settings.desktop_only():
            raise refuse("BROWSER_ACCESS_DISABLED", locale)
        user = cookie_user()
        device = browser_device_session(user) if user is not None else None
        if user is None or device is None:  # no device without a user
            raise refuse("AUTH_TOKEN_INVALID_OR_EXPIRED", locale)
        device_id, browser = device.id, True
    else:
        raise refuse("AUTH_REQUIRED", locale)

    sid: str = request.sid  # type: ignore[attr-defined]  # Flask-SocketIO puts it on a socket's request
    caller = SocketCaller(sid, user.id, device_id, locale, user.nickname, browser,
                          session.get("epoch") if browser else None)
    _enter(caller, user_channel(user.id))
    _enter(caller, device_channel(device_id))
    room_ids = member_room_ids(user.id)
    for room_id in room_ids:
        _enter(caller, room_channel(room_id))
    do_socket_connected(sid, caller, room_ids)


def _enter(caller: SocketCaller, channel: str) -> None:
    socketio.server.enter_room(caller.sid, channel, namespace="/")


def in_room(caller: SocketCaller, room_id: int) -> bool:
    """Whether the event's socket gets the room's events, without the database: a member's
    socket sits in the room's channel from its connect (or invite) until a kick or leave takes
    it out, which the Socket.IO manager does on the socket's own process, whichever process
    acted (or until the socket itself leaves the channel: `leave_room`)."""
    return room_channel(room_id) in socketio.server.rooms(caller.sid, namespace="/")


def _member_room_ids(user_id: int, wanted: list[object]) -> list[int]:
    ids = [r for r in wanted if isinstance(r, int) and not isinstance(r, bool) and fits_64_bits(r)]
    if not ids:
        return []
    return list(database.session.scalars(
        select(RoomMember.room_id).where(RoomMember.user_id == user_id, RoomMember.room_id.in_(ids))))


@socket_event(protocol.JOIN_ROOM)
def on_join_room(caller: SocketCaller, data: dict[str, Any]) -> dict[str, Any]:
    """Subscribe this socket to one of the user's rooms (membership is not changed)."""
    room_ids = _member_room_ids(caller.user_id, [take(data, "room_id", int)])
    if not room_ids:
        raise ApiError("ROOM_NOT_FOUND")
    _enter(caller, room_channel(room_ids[0]))
    return {"room_id": room_ids[0]}


@socket_event(protocol.LEAVE_ROOM)
def on_leave_room(caller: SocketCaller, data: dict[str, Any]) -> dict[str, Any]:
    """Stop this socket's delivery for a room; the user stays a member."""
    room_id = data.get("room_id")
    if isinstance(room_id, int) and not isinstance(room_id, bool):
        socketio.server.leave_room(caller.sid, room_channel(room_id), namespace="/")
    return {"room_id": room_id}


@socket_event(protocol.SUBSCRIBE_ROOMS)
def on_subscribe_rooms(caller: SocketCaller, data: dict[str, Any]) -> dict[str, Any]:
    wanted = data.get("room_ids")
    if not isinstance(wanted, list) or len(wanted) > 1000:
        raise ApiError("VALIDATION_ERROR", detail="room_ids: must be a list of room ids")
    room_ids = _member_room_ids(caller.user_id, wanted)
    for room_id in room_ids:
        _enter(caller, room_channel(room_id))
    return {"room_ids": room_ids}


from messenger.server.realtime import messages  # noqa: E402,F401  (registers the message events)
