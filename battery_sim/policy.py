"""The policy API of the 2024 template, and the handle the evaluator drives.

A team's policy is a class with `act(external_state, internal_state)` returning
`(solar_kW_to_battery, grid_kW)` and `load_historical(df)`, called once before the
window with every row before it. The evaluator drives any `PolicyHandle`: a policy
object in this process, or a proxy that speaks to a sandboxed one (tasks/sandbox).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Protocol

import pandas as pd


class Policy(ABC):
    def __init__(self, **kwargs: Any):
        super().__init__()

    @abstractmethod
    def act(self, external_state, internal_state: dict) -> tuple[float, float]:
        """Return (kW to route from solar to the battery, kW to buy (+) or sell (-) on the grid)."""

    def load_historical(self, external_states: pd.DataFrame) -> None:  # noqa: B027 - optional, as in 2024
        """Called once before the window with every row before it (never a row inside it)."""


class PolicyHandle(Protocol):
    def load_historical(self, external_states: pd.DataFrame) -> None: ...

    def act(self, external_state, internal_state: dict) -> Any: ...


# A factory makes a fresh policy for each trial; the handle may also have `close()` and
# `logs_tail()` (sandboxed handles do), which the evaluator calls when present.
PolicyFactory = Callable[[], PolicyHandle]
