"""What a live socket may do, known without a database round trip per event.

A socket's sign-in is read once, at connect, and kept in its process's presence
(`presence().local`) while it lives. It stays true because whatever ends a sign-in closes the
socket (`actions.events.close_sockets`, on whichever process the socket is), and the socket's
disconnect forgets it (`actions.presence.forget_socket`, the one place). Changes made where
no socket lives (the admin CLI, time) close sockets through the periodic check in
`actions.admin`. Room membership is the socket's place in the room's channel
(`realtime.handlers.in_room`), which kicks and invites change through the Socket.IO manager.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)  # one per live socket: no per-instance dict
class SocketCaller:
    sid: str  # the socket's id, for its own channels and for skipping it in a broadcast
    user_id: int
    device_session_id: int  # a browser's too: its sign-in is a device session of kind 'browser'
    locale: str
    nickname: str  # for typing events; renamed here on this process (`rename_user_sockets`)
    browser: bool = False  # a cookie session: its epoch and the mode are checked again later
    session_epoch: int | None = None  # a browser socket's cookie epoch at connect

    @property
    def id(self) -> int:
        """The user's id: what `access_*`, the actions and `serialize` read of a socket's user,
        so a caller stands for its user there without loading the row."""
        return self.user_id
