"""The `local` backend: the team's policy in arena's own process. For trusted code and
debugging only: no limits, no isolation. Failures still come back as PolicyError."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from battery_sim.teamcode import PolicyConfig, TeamCodeError, load_policy_class
from tasks.sandbox.protocol import PolicyCrashed


def _crashed(where: str, exc: BaseException) -> PolicyCrashed:
    text = str(exc).strip().replace("\n", " ")
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return PolicyCrashed(f"{where} raised {line}", traceback_text=tb)


class LocalPolicy:
    """A PolicyHandle around an instance of the team's class, in this process."""

    def __init__(self, team_dir: Path | str, config: PolicyConfig):
        try:
            cls = load_policy_class(team_dir, config.class_name)
        except TeamCodeError as exc:
            raise PolicyCrashed(f"bot/ setup: {exc}") from None
        except Exception as exc:
            raise _crashed(f"loading {config.class_name} (import)", exc) from None
        try:
            self.policy = cls(**config.parameters)
        except Exception as exc:
            raise _crashed(f"{config.class_name}.__init__", exc) from None

    def load_historical(self, external_states: Any) -> None:
        try:
            self.policy.load_historical(external_states)
        except Exception as exc:
            raise _crashed("load_historical()", exc) from None

    def act(self, external_state: Any, internal_state: dict) -> Any:
        try:
            return self.policy.act(external_state, internal_state)
        except Exception as exc:
            raise _crashed("act()", exc) from None
