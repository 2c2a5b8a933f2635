"""The one retry policy of the desk: waits that double up to a ceiling, with jitter.

The outbox (resending a message), the live connection (reconnecting, catching up) and the
app (restoring a saved sign-in) each wait in their own way (a time stored in the outbox's
database, an event a stop can wake, a Qt timer), so a retry library that owns the loop and
its sleeping (tenacity) fits none of them; the policy is what they share.
"""

from __future__ import annotations

import dataclasses
import random

JITTER = 0.2  # +-20%, so that a whole office does not retry in the same instant


@dataclasses.dataclass(frozen=True)
class Backoff:
    first: float  # the wait before the first retry
    most: float  # the longest wait

    def wait(self, retry: int) -> float:
        """The wait before retry number `retry` (0: the first)."""
        # 2**62 is past any ceiling; the cap keeps a long outage from overflowing a float.
        return min(self.first * 2 ** min(retry, 62), self.most) * random.uniform(1 - JITTER, 1 + JITTER)
