"""Sliding-window limits: the login throttle, and a per-key request rate (search).

Login failures are counted per (account, address) and per address: counting per
(account, address) rather than per account alone means an attacker elsewhere cannot
lock a victim out; every block ends when the window passes.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque
from threading import Lock


def _wait(times: deque[float], limit: int, window: float, now: float) -> float:
    """Seconds until fewer than `limit` of `times` fall in the window ending at `now`
    (0 if that is already so); forgets the times that left the window."""
    while times and times[0] <= now - window:
        times.popleft()
    return times[0] + window - now if len(times) >= limit else 0.0


class LoginThrottle:
    def __init__(self, per_account: int, per_address: int, window_seconds: int, clock=time.monotonic):
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

    def __init__(self, limit: int, window_seconds: float, clock=time.monotonic):
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self.requests: dict[object, deque[float]] = defaultdict(deque)
        self.lock = Lock()

    def take(self, key) -> int:
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
