"""Sleeps at import: only imported when its class is asked for (policies/__init__.py is empty)."""

import time

from policies.policy import Policy

time.sleep(10_000)


class SlowImport(Policy):
    def act(self, external_state, internal_state):
        return 0.0, 0.0
