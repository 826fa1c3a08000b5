"""The `local` backend: the team's policy in arena's own process. For trusted code and
debugging only: no limits, no isolation. Failures still come back as PolicyError."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from battery_sim import snapshot
from battery_sim.teamcode import PolicyConfig, TeamCodeError, load_policy_class
from tasks.sandbox.limits import SandboxLimits
from tasks.sandbox.protocol import PolicyCrashed, SnapshotRefused


def _crashed(where: str, exc: BaseException) -> PolicyCrashed:
    text = str(exc).strip().replace("\n", " ")
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return PolicyCrashed(f"{where} raised {line}", traceback_text=tb)


class LocalPolicy:
    """A PolicyHandle around an instance of the team's class, in this process."""

    def __init__(self, team_dir: Path | str, config: PolicyConfig, limits: SandboxLimits | None = None):
        self.team_dir = team_dir
        self.max_bytes = (limits or SandboxLimits()).checkpoint_max_bytes
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

    # A live run's state: pickled and unpickled here, where the team's code already runs (this
    # backend is for trusted code only); the docker and process backends do it in their sandbox.
    def checkpoint(self) -> bytes:
        if self.max_bytes <= 0:
            raise SnapshotRefused("keeping a policy's state between live advances is turned off")
        try:
            return snapshot.dump(self.policy, self.max_bytes)
        except snapshot.SnapshotError as exc:
            raise SnapshotRefused(str(exc)) from None

    def restore(self, blob: bytes) -> None:
        try:
            self.policy = snapshot.load(blob, self.team_dir)
        except snapshot.SnapshotError as exc:
            raise SnapshotRefused(str(exc)) from None
