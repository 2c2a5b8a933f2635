"""Who is online in this server process: users with at least one connected socket."""

from __future__ import annotations

from collections import Counter
from threading import Lock

_sockets: Counter[int] = Counter()
_lock = Lock()


def connected(user_id: int) -> bool:
    """Count a socket in; True if the user just came online."""
    with _lock:
        _sockets[user_id] += 1
        return _sockets[user_id] == 1


def disconnected(user_id: int) -> bool:
    """Count a socket out; True if the user just went offline."""
    with _lock:
        _sockets[user_id] -= 1
        if _sockets[user_id] <= 0:
            del _sockets[user_id]
            return True
        return False


def is_online(user_id: int) -> bool:
    return _sockets.get(user_id, 0) > 0


def online_user_ids() -> list[int]:
    with _lock:
        return sorted(_sockets)
