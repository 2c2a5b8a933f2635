"""Who is connected: this process's own sockets, and which users are online on any process.

One server process keeps it in memory (`LocalPresence`). Several processes on one message
queue (`message_queue`) keep it in Redis (`RedisPresence`): each process writes its own
sockets under its own id and refreshes a heartbeat key; a process that dies (kill -9) stops
counting once its heartbeat expires, and the first process to notice removes what it left.
Either way `sids(user_id)` answers the sockets of a user wherever they are, so an action can
close them or change their subscriptions through the Socket.IO manager, which reaches sockets
on other processes through the queue.
"""

from __future__ import annotations

import uuid
from threading import Lock
from typing import Any

from flask import current_app, g, has_app_context

from messenger.server.socket_access import SocketCaller


class LocalPresence:
    """Every socket is in this process."""

    # A process whose heartbeat is this old is taken for dead (several processes only).
    HEARTBEAT_SECONDS = 10

    def __init__(self) -> None:
        self.local: dict[str, SocketCaller] = {}  # sid -> caller, this process's sockets
        self._by_user: dict[int, set[str]] = {}
        self._lock = Lock()

    def connected(self, sid: str, caller: SocketCaller) -> bool:
        """Count a socket in; True if its user just came online."""
        with self._lock:
            self.local[sid] = caller
            sids = self._by_user.setdefault(caller.user_id, set())
            sids.add(sid)
            return len(sids) == 1

    def disconnected(self, sid: str) -> tuple[SocketCaller | None, bool]:
        """Count a socket out: its caller (None if unknown) and whether its user just went offline."""
        with self._lock:
            caller = self.local.pop(sid, None)
            if caller is None:
                return None, False
            sids = self._by_user[caller.user_id]
            sids.discard(sid)
            if not sids:
                del self._by_user[caller.user_id]
            return caller, not sids

    def sids(self, user_id: int, device_session_id: int | None = None) -> list[str]:
        """The sockets of a user (of one of its device sessions, if given)."""
        with self._lock:
            sids = list(self._by_user.get(user_id, ()))
        return [sid for sid in sids if device_session_id is None
                or getattr(self.local.get(sid), "device_session_id", None) == device_session_id]

    def online_user_ids(self) -> set[int]:
        with self._lock:
            return set(self._by_user)

    def is_online(self, user_id: int) -> bool:
        return user_id in self._by_user

    def heartbeat(self) -> list[int]:
        """Nothing to share or to clean up in one process."""
        return []

    def stop(self) -> None:
        pass


# Keys, per office queue: "<prefix>processes" (set of process ids), "<prefix>process:<id>" (the
# heartbeat), "<prefix>process:<id>:sockets" (sid -> "user:device"), "<prefix>process:<id>:users"
# (user -> sockets) and "<prefix>user:<id>:sockets" (sid -> "process:device").
_LIVE_SOCKETS = """
local function live_sockets(prefix, user)
  local live = 0
  local entries = redis.call('HGETALL', prefix .. 'user:' .. user .. ':sockets')
  for i = 2, #entries, 2 do
    local owner = string.match(entries[i], '^([^:]+)')
    if redis.call('EXISTS', prefix .. 'process:' .. owner) == 1 then live = live + 1 end
  end
  return live
end
"""
# Adds one socket of this process; answers its user's live sockets, this one included.
_CONNECT = _LIVE_SOCKETS + """
local prefix, process, sid, user, device = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
redis.call('HSET', prefix .. 'process:' .. process .. ':sockets', sid, user .. ':' .. device)
redis.call('HINCRBY', prefix .. 'process:' .. process .. ':users', user, 1)
redis.call('HSET', prefix .. 'user:' .. user .. ':sockets', sid, process .. ':' .. device)
return live_sockets(prefix, user)
"""
# Removes sockets (ARGV[3..]) of one process: answers the users left with no live socket.
_DISCONNECT = _LIVE_SOCKETS + """
local prefix, process = ARGV[1], ARGV[2]
local gone = {}
for i = 3, #ARGV do
  local sid = ARGV[i]
  local value = redis.call('HGET', prefix .. 'process:' .. process .. ':sockets', sid)
  if value then
    local user = string.match(value, '^([^:]+)')
    redis.call('HDEL', prefix .. 'process:' .. process .. ':sockets', sid)
    if redis.call('HINCRBY', prefix .. 'process:' .. process .. ':users', user, -1) <= 0 then
      redis.call('HDEL', prefix .. 'process:' .. process .. ':users', user)
    end
    redis.call('HDEL', prefix .. 'user:' .. user .. ':sockets', sid)
    if live_sockets(prefix, user) == 0 then gone[#gone + 1] = user end
  end
end
return gone
"""


class RedisPresence(LocalPresence):
    """Sockets of every process of the office, in Redis (see the module docstring)."""

    # `client` is a redis.Redis; Any, since its stubs type every reply as bytes | str.
    def __init__(self, client: Any, prefix: str = "messenger:") -> None:
        super().__init__()
        self.redis = client
        self.prefix = prefix
        self.process_id = uuid.uuid4().hex
        self._connect = client.register_script(_CONNECT)
        self._disconnect = client.register_script(_DISCONNECT)

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def connected(self, sid: str, caller: SocketCaller) -> bool:
        self.local[sid] = caller
        device = caller.device_session_id if caller.device_session_id is not None else ""
        live = self._connect(args=[self.prefix, self.process_id, sid, caller.user_id, device])
        return int(live) == 1

    def disconnected(self, sid: str) -> tuple[SocketCaller | None, bool]:
        caller = self.local.pop(sid, None)
        if caller is None:
            return None, False
        gone = self._disconnect(args=[self.prefix, self.process_id, sid])
        return caller, bool(gone)

    def sids(self, user_id: int, device_session_id: int | None = None) -> list[str]:
        entries = self.redis.hgetall(self._key("user", str(user_id), "sockets"))
        wanted = "" if device_session_id is None else str(device_session_id)
        return [sid.decode() for sid, value in entries.items()
                if not wanted or value.decode().split(":")[1] == wanted]

    def live_processes(self) -> list[str]:
        processes = sorted(p.decode() for p in self.redis.smembers(self._key("processes")))
        beats = self.redis.mget([self._key("process", p) for p in processes]) if processes else []
        return [p for p, beat in zip(processes, beats) if beat is not None]

    def online_user_ids(self) -> set[int]:
        # Once per request or socket event: a list of users asks for each user's status.
        if has_app_context() and "online_user_ids" in g:
            cached: set[int] = g.online_user_ids
            return cached
        pipe = self.redis.pipeline(transaction=False)
        for process in self.live_processes():
            pipe.hkeys(self._key("process", process, "users"))
        online = {int(user) for users in pipe.execute() for user in users}
        if has_app_context():
            g.online_user_ids = online
        return online

    def is_online(self, user_id: int) -> bool:
        return user_id in self.online_user_ids()

    def heartbeat(self) -> list[int]:
        """Say this process is alive (a serving process, every socket sweep and before it listens), and remove what dead processes left; returns the users
        that went offline with them. A process taken for dead while it was only slow writes
        its sockets again."""
        self.redis.set(self._key("process", self.process_id), "1", ex=self.HEARTBEAT_SECONDS)
        if self.redis.sadd(self._key("processes"), self.process_id) and self.local:
            for sid, caller in list(self.local.items()):
                device = caller.device_session_id if caller.device_session_id is not None else ""
                self._connect(args=[self.prefix, self.process_id, sid, caller.user_id, device])
        gone: set[int] = set()
        live = set(self.live_processes())
        for process in [p.decode() for p in self.redis.smembers(self._key("processes"))]:
            # SREM answers 1 to one process only: that one cleans up.
            if process in live or not self.redis.srem(self._key("processes"), process):
                continue
            sids = [sid.decode() for sid in self.redis.hkeys(self._key("process", process, "sockets"))]
            if sids:
                gone.update(int(user) for user in self._disconnect(args=[self.prefix, process, *sids]))
            self.redis.delete(self._key("process", process, "sockets"), self._key("process", process, "users"))
        return sorted(gone)

    def stop(self) -> None:
        """A clean stop: the others see this process gone at their next heartbeat."""
        self.redis.delete(self._key("process", self.process_id))


def presence() -> LocalPresence:
    """The app's presence (bound in `create_app`)."""
    found: LocalPresence = current_app.extensions["presence"]
    return found
