"""`SandboxLimits`: every limit one sandboxed run obeys, from settings plus per-team overrides."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from arena.settings import SandboxSettings

# Team.limits keys may use the settings' names or these short ones.
_ALIASES = {
    "step_timeout": "step_timeout_s",
    "startup_timeout": "startup_timeout_s",
    "run_timeout": "run_timeout_s",
    "mem": "memory",
    "pids": "pids_limit",
    "tmpfs": "tmpfs_size",
}
LIMIT_FIELDS = (
    "step_timeout_s", "startup_timeout_s", "run_timeout_s", "memory", "cpus",
    "pids_limit", "tmpfs_size", "log_cap_bytes", "log_tail_lines",
)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmg]?)b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str | int | float) -> int:
    """Bytes from docker notation: 1g, 512m, 64k, 1048576."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return int(text)
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"size {text!r} is not like 512m or 1g")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


@dataclass(frozen=True)
class SandboxLimits:
    step_timeout_s: float = 2.0
    startup_timeout_s: float = 60.0
    run_timeout_s: float = 1800.0
    memory: str = "1g"
    cpus: float = 1.0
    pids_limit: int = 128
    tmpfs_size: str = "64m"
    log_cap_bytes: int = 1_000_000
    log_tail_lines: int = 40
    checkpoint_max_mb: float = 16.0  # arena's budget, not a team's limit (not in LIMIT_FIELDS)

    @property
    def checkpoint_max_bytes(self) -> int:
        return int(self.checkpoint_max_mb * 1_000_000)

    @property
    def memory_bytes(self) -> int:
        return parse_size(self.memory)

    @property
    def tmpfs_bytes(self) -> int:
        return parse_size(self.tmpfs_size)

    @property
    def step_grace_s(self) -> float:
        """How long past the cooperative step limit arena waits before the hard kill."""
        return min(5.0, max(0.25, 0.25 * self.step_timeout_s))

    @property
    def startup_grace_s(self) -> float:
        """The same for start-up. Its own, wider margin: the cooperative timer's traceback (where
        an import was stuck) must still arrive when a loaded machine is slow to deliver it."""
        return min(15.0, max(2.0, 0.25 * self.startup_timeout_s))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_settings(
        cls, settings: SandboxSettings | None = None, overrides: Mapping[str, Any] | None = None
    ) -> SandboxLimits:
        """Settings first, then `overrides` (e.g. Team.limits), validated with the settings' bounds."""
        settings = settings or SandboxSettings()
        values = {name: getattr(settings, name) for name in LIMIT_FIELDS}
        for key, value in (overrides or {}).items():
            if value is None:
                continue
            name = _ALIASES.get(key, key)
            if name not in LIMIT_FIELDS:
                raise ValueError(f"unknown sandbox limit {key!r}; known: {', '.join(LIMIT_FIELDS)}")
            values[name] = value
        checked = SandboxSettings(**values)  # the settings class holds the bounds
        limits = cls(**{name: getattr(checked, name) for name in LIMIT_FIELDS},
                     checkpoint_max_mb=settings.checkpoint_max_mb)
        parse_size(limits.memory), parse_size(limits.tmpfs_size)
        return limits


def limits_from_cli(
    step_timeout: float | None = None,
    startup_timeout: float | None = None,
    run_timeout: float | None = None,
    memory: str | None = None,
    cpus: float | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> SandboxLimits:
    """Limits for `arena evaluate`: settings < per-team `overrides` < the CLI flags given."""
    merged = dict(overrides or {})
    merged = {_ALIASES.get(k, k): v for k, v in merged.items()}
    for name, value in (("step_timeout_s", step_timeout), ("startup_timeout_s", startup_timeout),
                        ("run_timeout_s", run_timeout), ("memory", memory), ("cpus", cpus)):
        if value is not None:
            merged[name] = value
    return SandboxLimits.from_settings(overrides=merged)
