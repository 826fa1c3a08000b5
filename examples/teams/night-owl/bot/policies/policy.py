from abc import ABC, abstractmethod


class Policy(ABC):
    """The 2024 template's base class: act() each interval, load_historical() once before."""

    def __init__(self, **kwargs):
        super().__init__()

    @abstractmethod
    def act(self, external_state, internal_state):
        """Return (kW from solar to the battery, kW bought (+) or sold (-) on the grid)."""

    @abstractmethod
    def load_historical(self, external_states):
        """Every market row before the evaluation window, as a pandas DataFrame."""
