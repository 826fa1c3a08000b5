"""Running a team's policy somewhere it cannot hurt anyone (DESIGN.md §4).

    factory = team_policy_factory(team_dir, backend="docker", limits=limits, team_id=101, commit=sha)
    evaluate(data, factory=factory, ...)        # each factory() is a fresh sandbox

Backends: `docker` (the default: a locked-down container per run), `process` (same agent and
protocol in a namespace jail, for machines without Docker; not a container), `local` (in this
process; trusted code and debugging). The backend is configured, never guessed: when Docker is
not ready the evaluation fails as arena's error, it does not step down to `process`. Every team failure is a `battery_sim.errors.PolicyError` subclass
whose message says which limit or exception; arena's own failures are `SandboxUnavailable`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arena.settings import SandboxSettings
from battery_sim.policy import PolicyFactory, PolicyHandle
from battery_sim.teamcode import TeamCodeError, read_config, read_requirements
from tasks.sandbox.docker import DockerRuntime
from tasks.sandbox.images import ImageBuildError, ensure_team_image, requirement_notes
from tasks.sandbox.limits import SandboxLimits, limits_from_cli
from tasks.sandbox.local import LocalPolicy
from tasks.sandbox.process import NOT_ISOLATED, ProcessRuntime
from tasks.sandbox.protocol import (
    MemoryLimit,
    PolicyCrashed,
    ProcessLimit,
    ProtocolError,
    RunTimeout,
    SandboxPolicy,
    SandboxUnavailable,
    SnapshotRefused,
    StartupTimeout,
    StepTimeout,
)

BACKENDS = ("docker", "process", "local")

__all__ = [
    "BACKENDS", "ImageBuildError", "MemoryLimit", "PolicyCrashed", "ProcessLimit", "ProtocolError", "RunTimeout",
    "SandboxLimits", "SandboxPolicy", "SandboxUnavailable", "SnapshotRefused", "StartupTimeout", "StepTimeout", "configured_backend",
    "docker_ready", "isolation_warning", "limits_from_cli", "team_policy_factory",
]


def docker_ready(settings: SandboxSettings | None = None) -> str | None:
    """None when an engine answers and the base image exists; else why not."""
    settings = settings or SandboxSettings()
    try:
        import docker
        import docker.errors

        client = docker.from_env(timeout=5)
        client.ping()
    except Exception as exc:
        return f"no Docker engine answers ({type(exc).__name__})"
    try:
        client.images.get(settings.base_image)
    except docker.errors.ImageNotFound:
        return f"base image {settings.base_image} is missing (run scripts/base-image)"
    except Exception as exc:
        return f"Docker engine error: {exc}"
    finally:
        client.close()
    return None


def configured_backend(named: str | None = None, settings: SandboxSettings | None = None) -> str:
    """`named` (a --backend flag) when given, else ARENA_SANDBOX_BACKEND (default `docker`)."""
    backend = named or (settings or SandboxSettings()).backend
    if backend not in BACKENDS:
        raise ValueError(f"unknown sandbox backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return backend


def isolation_warning(backend: str) -> str | None:
    """What an organiser must be told before a backend other than docker runs team code."""
    if backend == "process":
        return NOT_ISOLATED
    if backend == "local":
        return "the local sandbox is no sandbox: team code runs inside arena itself; use it for trusted code only"
    return None


class TeamPolicyFactory:
    """Makes a fresh sandboxed policy per call (one container or process per trial)."""

    def __init__(self, team_dir: Path, backend: str, limits: SandboxLimits, config: Any,
                 image: str | None, team_id: int | None, notes: tuple[str, ...] = ()):
        self.team_dir, self.backend, self.limits = team_dir, backend, limits
        self.config, self.image, self.team_id = config, image, team_id
        self.notes = notes  # what the team page says about how its repo was read

    def __call__(self, seed: int | None = None) -> PolicyHandle:
        if self.backend == "local":
            return LocalPolicy(self.team_dir, self.config, self.limits)
        if self.backend == "docker":
            runtime: Any = DockerRuntime(self.image, self.limits, team_id=self.team_id)
        else:
            runtime = ProcessRuntime(self.team_dir, self.limits)
        return SandboxPolicy(runtime, self.config, self.limits, seed=seed)


def team_policy_factory(
    team_dir: Path | str,
    *,
    backend: str | None = None,
    limits: SandboxLimits | None = None,
    team_id: int | None = None,
    commit: str | None = None,
) -> PolicyFactory:
    """A PolicyFactory for the team repo at `team_dir` (2024 layout) on `backend` (None: the
    configured one).

    For `docker` the team image is built (or reused) now. Raises PolicyCrashed for a repo
    without a usable bot/config.json, ImageBuildError for requirements that cannot be
    installed, SandboxUnavailable when Docker or the base image is missing."""
    backend = configured_backend(backend)
    team_dir = Path(team_dir)
    try:
        config = read_config(team_dir)
    except TeamCodeError as exc:
        raise PolicyCrashed(f"bot/ setup: {exc}") from None
    limits = limits or SandboxLimits.from_settings()
    try:
        requirements = read_requirements(team_dir)
    except TeamCodeError as exc:
        raise ImageBuildError(str(exc)) from None
    notes = requirement_notes(requirements)
    if backend != "docker" and requirements.strip():
        notes.append(f"bot/requirements.txt was not installed: the {backend} sandbox runs arena's own Python")
    image = ensure_team_image(team_dir, team_id=team_id, commit=commit) if backend == "docker" else None
    return TeamPolicyFactory(team_dir, backend, limits, config, image, team_id, tuple(notes))
