"""What each live socket of this process may do, known without a database round trip per event.

A socket's sign-in and its rooms are read once, at connect, and kept here while it lives.
They stay true because whatever ends them goes through `drop_socket_access`: closing the
socket of an ended sign-in (`actions.events.disconnect_channel`, and the socket's own
disconnect) and taking a room away (`actions.events.unsubscribe_user_from_room`). Changes made
where no socket of this process lives (the admin CLI, time) close sockets through the
periodic check in `actions.admin`, which costs nothing per idle socket.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SocketCaller:
    user_id: int
    device_session_id: int  # a browser's too: its sign-in is a device session of kind 'browser'
    locale: str
    nickname: str
    room_ids: set[int] = field(default_factory=set)
    browser: bool = False  # a cookie session: its epoch and the mode are checked again later

    @property
    def id(self) -> int:
        """The user's id: what `access_*`, the actions and `serialize` read of a socket's user,
        so a caller stands for its user there without loading the row."""
        return self.user_id


callers: dict[str, SocketCaller] = {}  # socket id -> its caller, while its sign-in holds


def drop_socket_access(sid: str, room_id: int | None = None) -> SocketCaller | None:
    """The one place a socket's cached access ends: without `room_id` its sign-in (the socket
    is closing, so its next event is refused), with one its membership of that room.
    Returns the socket's caller, if it had one."""
    if room_id is None:
        return callers.pop(sid, None)
    caller = callers.get(sid)
    if caller is not None:
        caller.room_ids.discard(room_id)
    return caller
