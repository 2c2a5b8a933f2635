"""Sliding-window limits: the login throttle, and a per-key request rate (search).

Login failures are counted per (account, address) and per address: counting per
(account, address) rather than per account alone means an attacker elsewhere cannot
lock a victim out; every block ends when the window passes.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import defaultdict, deque
from threading import Lock
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import redis


def _wait(times: deque[float], limit: int, window: float, now: float) -> float:
    """Seconds until fewer than `limit` of `times` fall in the window ending at `now`
    (0 if that is already so); forgets the times that left the window."""
    while times and times[0] <= now - window:
        times.popleft()
    return times[0] + window - now if len(times) >= limit else 0.0


class LoginThrottle:
    def __init__(self, per_account: int, per_address: int, window_seconds: int, clock: Callable[[], float] = time.monotonic):
        self.limits = {"account": per_account, "address": per_address}
        self.window = window_seconds
        self.clock = clock
        self.failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self.lock = Lock()

    def _keys(self, username: str, address: str) -> list[tuple[str, str]]:
        return [("account", f"{username.lower()}|{address}"), ("address", address)]

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until a login may be tried again; 0 if it may be tried now."""
        now = self.clock()
        wait = 0.0
        with self.lock:
            for key in self._keys(username, address):
                times = self.failures.get(key)
                if times:
                    wait = max(wait, _wait(times, self.limits[key[0]], self.window, now))
        return math.ceil(wait)

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        with self.lock:
            for key in self._keys(username, address):
                self.failures[key].append(now)

    def succeeded(self, username: str, address: str) -> None:
        with self.lock:
            self.failures.pop(self._keys(username, address)[0], None)


class RateLimit:
    """At most `limit` requests per key (a user id) in any `window_seconds`."""

    def __init__(self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self.requests: dict[object, deque[float]] = defaultdict(deque)
        self.lock = Lock()

    def take(self, key: object) -> int:
        """Count a request and return 0, or, if the key is over its limit, count nothing
        and return the seconds to wait."""
        now = self.clock()
        with self.lock:
            times = self.requests[key]
            wait = _wait(times, self.limit, self.window, now)
            if wait:
                return max(1, math.ceil(wait))
            times.append(now)
            return 0


class TypingThrottle:
    """Lets one "is typing" per (user, room) through per window; in-process, bounded memory.

    A "stopped typing" always goes through and clears the window, so the others never keep
    seeing someone type who stopped, and a fresh start after a stop is shown at once.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.last_sent: dict[tuple[int, int], float] = {}
        self.lock = Lock()

    def allow(self, user_id: int, room_id: int, is_typing: bool, window: float) -> bool:
        key = (user_id, room_id)
        now = self.clock()
        with self.lock:
            if not is_typing:
                self.last_sent.pop(key, None)
                return True
            last = self.last_sent.get(key)
            if last is not None and now - last < window:
                return False
            if len(self.last_sent) >= self.MAX_ENTRIES:
                self._forget_older_than(now - window)
            self.last_sent[key] = now
            return True

    def _forget_older_than(self, cutoff: float) -> None:
        # Entries past the window no longer hold anything back; if every entry is fresh the
        # worst a reset does is let one extra "is typing" through.
        stale = [key for key, at in self.last_sent.items() if at <= cutoff]
        for key in stale:
            del self.last_sent[key]
        if len(self.last_sent) >= self.MAX_ENTRIES:
            self.last_sent.clear()


# Several server processes (`message_queue`) share their windows in Redis, so that attempts spread
# over the processes count as one. One sorted set per key, scored by Redis's own clock (the
# processes' clocks may differ); ARGV: limit, window seconds, "add" ("always", "if_free" or ""),
# a unique member. Answers the seconds to wait, as text (Lua would cut a number to an integer).
_WINDOW = """
local key, limit, window, add = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local wait = 0
if redis.call('ZCARD', key) >= limit then
  wait = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]) + window - now
end
if add == 'always' or (add == 'if_free' and wait <= 0) then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, math.ceil(window * 1000))
end
return tostring(wait)
"""


class RedisWindows:
    """Sliding windows in Redis: `check(key, limit, window, add)` is `_wait` over every process's
    times, adding now when `add` says so."""

    def __init__(self, client: redis.Redis, prefix: str):
        self.redis = client
        self.prefix = prefix
        self._window = client.register_script(_WINDOW)

    def check(self, key: str, limit: int, window: float, add: str = "") -> float:
        member = uuid.uuid4().hex
        return float(self._window(keys=[self.prefix + key], args=[limit, window, add, member]))

    def forget(self, key: str) -> None:
        self.redis.delete(self.prefix + key)


class RedisLoginThrottle(LoginThrottle):
    """`LoginThrottle` with its windows shared by every process through Redis."""

    def __init__(self, windows: RedisWindows, per_account: int, per_address: int, window_seconds: int):
        super().__init__(per_account, per_address, window_seconds)
        self.windows = windows

    def retry_after(self, username: str, address: str) -> int:
        return math.ceil(max(self.windows.check(f"login:{kind}:{key}", self.limits[kind], self.window)
                             for kind, key in self._keys(username, address)))

    def failed(self, username: str, address: str) -> None:
        for kind, key in self._keys(username, address):
            self.windows.check(f"login:{kind}:{key}", self.limits[kind], self.window, "always")

    def succeeded(self, username: str, address: str) -> None:
        kind, key = self._keys(username, address)[0]
        self.windows.forget(f"login:{kind}:{key}")


class RedisRateLimit(RateLimit):
    """`RateLimit` with its windows shared by every process through Redis."""

    def __init__(self, windows: RedisWindows, name: str, limit: int, window_seconds: float):
        super().__init__(limit, window_seconds)
        self.windows = windows
        self.name = name

    def take(self, key: object) -> int:
        wait = self.windows.check(f"{self.name}:{key}", self.limit, self.window, "if_free")
        return max(1, math.ceil(wait)) if wait > 0 else 0


class RedisTypingThrottle:
    """`TypingThrottle` (actions/messages.py) over every process: one "is typing" per
    (user, room) per window; a stop always goes through and clears the window."""

    def __init__(self, windows: RedisWindows):
        self.windows = windows

    def allow(self, user_id: int, room_id: int, is_typing: bool, window: float) -> bool:
        key = f"typing:{user_id}:{room_id}"
        if not is_typing:
            self.windows.forget(key)
            return True
        return self.windows.check(key, 1, window, "if_free") <= 0
