"""Login throttle: failures counted per (account, address) and per address in a sliding window.

Counting per (account, address) rather than per account alone means an attacker
elsewhere cannot lock a victim out; every block ends when the window passes.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque
from threading import Lock


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
                if not times:
                    continue
                while times and times[0] <= now - self.window:
                    times.popleft()
                if len(times) >= self.limits[key[0]]:
                    wait = max(wait, times[0] + self.window - now)
        return math.ceil(wait)

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        with self.lock:
            for key in self._keys(username, address):
                self.failures[key].append(now)

    def succeeded(self, username: str, address: str) -> None:
        with self.lock:
            self.failures.pop(self._keys(username, address)[0], None)
