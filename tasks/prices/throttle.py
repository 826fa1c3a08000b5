"""A client-side request rate limit: at most `rate` requests in any `per_s` window.

Open Electricity's Community plan allows a burst of 2 requests per second (research §2);
a backfill of many chunks would otherwise fire its requests back to back and earn 429s.
A sliding window (rather than fixed spacing) lets the allowed burst through and only
waits once it is used up.

The clock and sleep are injectable so tests run on virtual time. The limit holds per
process: two processes sharing a key each get the full rate.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class Throttle:
    def __init__(
        self,
        rate: float,
        per_s: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0 or per_s <= 0:
            raise ValueError("rate and per_s must be positive")
        # A fractional rate (0.5/s) is the same as 1 request per 2 s.
        self.slots = max(1, int(rate * per_s))
        self.per_s = max(per_s, 1.0 / rate)
        self.clock = clock
        self.sleep = sleep
        self.sent: deque[float] = deque()
        self.lock = threading.Lock()

    def wait(self) -> None:
        """Block until one more request fits in the window, then count it as sent."""
        with self.lock:
            now = self.clock()
            while self.sent and self.sent[0] <= now - self.per_s:
                self.sent.popleft()
            if len(self.sent) >= self.slots:
                due = self.sent[0] + self.per_s
                self.sleep(due - now)
                # Record the due time even if the sleep came back early, so the books
                # never show a request earlier than the limit allowed.
                now = max(self.clock(), due)
                self.sent.popleft()
            self.sent.append(now)
