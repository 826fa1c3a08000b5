"""Team repos for the live-run tests: the examples, arena's built-in policies as a team, and a few
written here (one reading remaining_steps, a seeded random one, an unpicklable one, one that
crashes at a given interval, a slow one)."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "teams"

POLICIES = '''
import random
import threading
from collections import deque

import numpy as np

from battery_sim.policies import BUILTIN_POLICIES


class Countdown:
    """Reads remaining_steps: sells harder as the end nears (exact only with a declared end)."""

    def __init__(self):
        self.prices = deque(maxlen=36)

    def load_historical(self, frame):
        self.prices.extend(frame["price"].tolist()[-36:])

    def act(self, obs, state):
        self.prices.append(obs["price"])
        left = state["remaining_steps"]
        if left < 300:
            return 0, -state["max_charge_rate"]
        return 0, (5.0 if obs["price"] <= float(np.median(self.prices)) else -5.0) * (1 + (left % 7) / 10)


class SeededRandom:
    """Draws from both global generators, which the evaluator seeds with the run's seed."""

    def act(self, obs, state):
        if random.random() < 0.5 + 0.1 * float(np.random.standard_normal()):
            return random.uniform(0, 2), state["max_charge_rate"] * random.random()
        return 0, -state["max_charge_rate"] * float(np.random.random())

    def load_historical(self, frame):
        self.first = random.random()


class Unpicklable:
    """Holds a lock: its state cannot be pickled."""

    def __init__(self):
        self.lock = threading.Lock()

    def load_historical(self, frame):
        pass

    def act(self, obs, state):
        return 0, 2.0


class CrashAt:
    """Raises at its `at`-th act() of the run (counted from the window start)."""

    def __init__(self, at=0):
        self.at, self.seen = int(at), 0

    def load_historical(self, frame):
        pass

    def act(self, obs, state):
        if self.seen == self.at:
            raise RuntimeError(f"broken on purpose at interval {self.seen}")
        self.seen += 1
        return 0, 1.0 if self.seen % 3 else -1.0


class Slow:
    """A few milliseconds per interval, so an advance can be killed half-way."""

    def __init__(self, seconds=0.01):
        self.seconds, self.total = float(seconds), 0.0

    def load_historical(self, frame):
        pass

    def act(self, obs, state):
        import time

        time.sleep(self.seconds)
        self.total += obs["price"]
        return 0, 3.0 if obs["price"] < self.total / (state["remaining_steps"] + 1) else -3.0


policy_classes = dict(BUILTIN_POLICIES, Countdown=Countdown, SeededRandom=SeededRandom, Unpicklable=Unpicklable,
                      CrashAt=CrashAt, Slow=Slow)
'''

WRITTEN = ("Countdown", "SeededRandom", "Unpicklable", "CrashAt", "Slow")


def mixed_team(folder: Path, class_name: str = "Countdown", parameters: dict | None = None) -> Path:
    """One repo holding the built-in policies and the ones above (one image serves them all)."""
    policies = folder / "bot" / "policies"
    policies.mkdir(parents=True, exist_ok=True)
    (policies / "__init__.py").write_text(textwrap.dedent(POLICIES))
    (folder / "bot" / "requirements.txt").write_text("")
    set_policy(folder, class_name, parameters)
    return folder


def set_policy(folder: Path, class_name: str, parameters: dict | None = None) -> None:
    (folder / "bot" / "config.json").write_text(
        json.dumps({"policy": {"class_name": class_name, "parameters": parameters or {}}}))


def example(folder: Path, name: str) -> Path:
    shutil.copytree(EXAMPLES / name, folder)
    return folder
