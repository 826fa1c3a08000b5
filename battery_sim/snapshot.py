"""A policy's state between two live advances: pickled where the team's code runs, never elsewhere.

    blob = dump(policy, max_bytes)        # inside the sandbox (the agent) or the local backend
    policy = load(blob, team_dir)         # back inside that same team's sandbox, for the same commit

The blob holds (the policy object, `random`'s state, numpy's global state), so a restored run
continues the same seed stream a full replay draws. Unpickling runs arbitrary code: arena's host
only stores the blob as opaque bytes and sends it back to the team's own sandbox (SECURITY.md).
Stdlib only at import; numpy is read lazily, as the agent does.
"""

from __future__ import annotations

import pickle
import random
import sys
from pathlib import Path
from typing import Any

from battery_sim.teamcode import bot_dir_of

FORMAT = 1


class SnapshotError(Exception):
    """The policy's state cannot be kept (or restored): the live run falls back to a full replay.
    The message is one plain sentence for the team page."""


def _numpy() -> Any:
    try:
        import numpy as np  # noqa: PLC0415 - only when a snapshot is taken or restored
    except ImportError:  # pragma: no cover - numpy comes with pandas
        return None
    return np


def dump(policy: Any, max_bytes: int) -> bytes:
    np = _numpy()
    state = (FORMAT, policy, random.getstate(), np.random.get_state() if np is not None else None)
    try:
        blob = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    except RecursionError:
        raise SnapshotError("the policy's state is nested too deeply to be saved") from None
    except Exception as exc:  # whatever the team's objects raise while being pickled
        text = str(exc).strip().replace("\n", " ")[:200]
        raise SnapshotError(f"the policy's state cannot be saved with pickle ({type(exc).__name__}: {text})") from None
    if len(blob) > max_bytes:
        raise SnapshotError(f"the policy's saved state is {len(blob) / 1e6:.1f} MB, over the "
                            f"{max_bytes / 1e6:.1f} MB a live run may keep")
    return blob


def load(blob: bytes, team_dir: str | Path | None = None) -> Any:
    """The policy object of `blob`, with `random` and numpy's generator set as they were.
    `team_dir`: the team's tree, on sys.path while unpickling (its modules may load lazily)."""
    bot = str(bot_dir_of(team_dir).resolve()) if team_dir is not None else None
    if bot:
        sys.path.insert(0, bot)
    try:
        state = pickle.loads(blob)  # noqa: S301 - the team's own state, inside the team's own sandbox
    except Exception as exc:
        text = str(exc).strip().replace("\n", " ")[:200]
        raise SnapshotError(f"the policy's saved state could not be restored ({type(exc).__name__}: {text})") from None
    finally:
        if bot:
            sys.path.remove(bot)
    if not (isinstance(state, tuple) and len(state) == 4 and state[0] == FORMAT):
        raise SnapshotError("the policy's saved state is not in the format this agent writes")
    _, policy, py_state, np_state = state
    try:
        random.setstate(py_state)
        np = _numpy()
        if np is not None and np_state is not None:
            np.random.set_state(np_state)
    except Exception as exc:
        raise SnapshotError(f"the saved random state could not be restored ({type(exc).__name__})") from None
    return policy
