"""Every deployment and schedule of arena, defined once, as data.

`deployments/serve.py` turns these into served deployments (one machine: `arena up`);
`prefect.yaml` at the repository root holds the same deployments for a process work pool
(scale-out), and tests/flows/test_deployments.py fails when the two differ. DOCKER_DEPLOYMENTS:
the same flows on a Docker work pool (job containers of the arena image, tasks/sandbox/app_image.py),
in prefect.yaml too; `deployments/docker_pool.py` deploys them from this host's settings.

Schedules (UTC unless a timezone is given; the NEM itself runs on AEST, Australia/Brisbane):
    ingest-prices        every 5 min, never overlapping itself (concurrency 1, CANCEL_NEW); one that
                         stores a new interval starts an evaluate-round run at once (flows/ingest.py)
    poll-submissions     every 2 min; new submissions are evaluated in the same run
    sync-task-rows       every 5 min
    run-pending-tasks    every minute (the 2024 TaskManager runner)
    evaluate-round       hourly at minute 3 (the safety net), and after each new interval; it publishes the
                         leaderboard at its end ("leaderboard after each round")
    publish-leaderboard, evaluate-submission, backtest, timer-command: on demand (timer-command
    gets one schedule per `arena timers add`)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tasks.sandbox.layout import APP_DIR, APP_REPOSITORY

WORK_POOL = "arena-process"
DOCKER_POOL = "arena-docker"
# Intervals count from a round hour, so 5-minute runs fall on :00, :05, ... like NEM intervals.
ANCHOR = "2024-01-01T00:00:00+00:00"


@dataclass(frozen=True)
class DeploymentSpec:
    name: str  # the deployment name; also the flow's name, so runs are `name/name`
    entrypoint: str  # path/to/file.py:function, relative to the repository root
    description: str
    schedules: tuple[dict[str, Any], ...] = ()  # each {"interval": s | "cron": str, "slug": ..., "timezone": ...}
    parameters: dict[str, Any] = field(default_factory=dict)
    concurrency_limit: int | None = None
    collision_strategy: str | None = None  # ENQUEUE | CANCEL_NEW
    tags: tuple[str, ...] = ()

    @property
    def full_name(self) -> str:
        return f"{self.name}/{self.name}"

    @property
    def module_path(self) -> str:
        path, _, function = self.entrypoint.partition(":")
        return path[: -len(".py")].replace("/", ".") + "." + function

    def load_flow(self) -> Any:
        module, _, function = self.module_path.rpartition(".")
        return getattr(importlib.import_module(module), function)


DEPLOYMENTS: tuple[DeploymentSpec, ...] = (
    DeploymentSpec(
        "ingest-prices", "flows/ingest.py:ingest_prices",
        "Newest 5-minute intervals into the store (re-reads the last hour).",
        schedules=({"interval": 300, "anchor_date": ANCHOR, "slug": "every-5-min"},),
        concurrency_limit=1, collision_strategy="CANCEL_NEW", tags=("ingest",),
    ),
    DeploymentSpec(
        "poll-submissions", "flows/submissions.py:poll_submissions",
        "New submission commits -> task rows -> evaluations.",
        schedules=({"interval": 120, "anchor_date": ANCHOR, "slug": "every-2-min"},),
        concurrency_limit=1, collision_strategy="CANCEL_NEW", tags=("submissions",),
    ),
    DeploymentSpec(
        "sync-task-rows", "flows/taskrows.py:sync_task_rows",
        "Reconcile task rows with Prefect's own record of their runs.",
        schedules=({"interval": 300, "anchor_date": ANCHOR, "slug": "every-5-min"},), tags=("tasks",),
    ),
    DeploymentSpec(
        "run-pending-tasks", "flows/taskrows.py:run_pending_tasks",
        "The 2024 TaskManager runner: pending rows, one at a time, in id order.",
        schedules=({"interval": 60, "anchor_date": ANCHOR, "slug": "every-minute"},),
        concurrency_limit=1, collision_strategy="CANCEL_NEW", tags=("tasks",),
    ),
    DeploymentSpec(
        "evaluate-round", "flows/evaluation.py:evaluate_round",
        "Every team's current submission over the live window; publishes the leaderboard at the end.",
        schedules=({"cron": "3 * * * *", "timezone": "Australia/Brisbane", "slug": "hourly"},),
        concurrency_limit=1, collision_strategy="ENQUEUE", tags=("round",),
    ),
    DeploymentSpec(
        "evaluate-submission", "flows/evaluation.py:evaluate_submission",
        "One team's commit over one window (runs of a round when started as deployment runs).",
        tags=("evaluation",),
    ),
    DeploymentSpec(
        "publish-leaderboard", "flows/publish.py:publish_leaderboard",
        "Static site, leaderboard artifact, S3 copy.", tags=("leaderboard",),
    ),
    DeploymentSpec(
        "backtest", "flows/evaluation.py:backtest",
        "One team or all over any historical window: prefect deployment run backtest/backtest --param ...",
        tags=("backtest",),
    ),
    DeploymentSpec(
        "timer-command", "flows/taskrows.py:timer_command",
        "2024 timers: one schedule per `arena timers add COMMAND CRONTAB`.", tags=("tasks",),
    ),
)


def by_name(name: str) -> DeploymentSpec:
    for spec in DEPLOYMENTS:
        if spec.name == name:
            return spec
    raise KeyError(f"no deployment {name!r}; known: {', '.join(s.name for s in DEPLOYMENTS)}")


def prefect_schedule(entry: dict[str, Any], parameters: dict[str, Any] | None = None) -> Any:
    """One schedule entry (as in DEPLOYMENTS or prefect.yaml) -> a prefect.schedules.Schedule."""
    from prefect.schedules import Cron, Interval, RRule  # noqa: PLC0415 - the CLI reads DEPLOYMENTS without Prefect

    common = dict(timezone=entry.get("timezone"), slug=entry.get("slug"), parameters=parameters or entry.get("parameters"),
                  active=entry.get("active", True))
    if "cron" in entry:
        return Cron(entry["cron"], **common)
    if "interval" in entry:
        anchor = entry.get("anchor_date")
        anchor = datetime.fromisoformat(anchor) if isinstance(anchor, str) else anchor
        return Interval(entry["interval"], anchor_date=anchor, **common)
    if "rrule" in entry:
        return RRule(entry["rrule"], **common)
    raise ValueError(f"schedule {entry!r} has none of cron, interval, rrule")


# ---- the Docker work pool ------------------------------------------------------------------------
APP_IMAGE = f"{APP_REPOSITORY}:latest"  # scripts/arena-image tags the arena image it builds so, too
DOCKER_SOCKET = "/var/run/docker.sock"
# The flow code comes from the image: the run starts in the folder the entrypoint is relative to.
DOCKER_PULL_STEPS = ({"prefect.deployments.steps.set_working_directory": {"directory": APP_DIR}},)


@dataclass(frozen=True)
class DockerDeploymentSpec:
    name: str  # the deployment's name; runs are `flow.name/name`
    flow: DeploymentSpec  # the flow (entrypoint, parameters) it runs
    description: str
    tags: tuple[str, ...] = ()

    @property
    def full_name(self) -> str:
        return f"{self.flow.name}/{self.name}"


DOCKER_DEPLOYMENTS: tuple[DockerDeploymentSpec, ...] = (
    DockerDeploymentSpec(
        "evaluate-submission-docker", by_name("evaluate-submission"),
        "One team's commit over one window, in a job container of the arena image (Docker work pool); "
        "rounds use it when ARENA_FLOWS_EVALUATE_DEPLOYMENT=evaluate-submission-docker.",
        tags=("evaluation", "docker"),
    ),
)


def docker_job_variables(home: str, table_prefix: str, *, image: str = APP_IMAGE, env: dict[str, str] | None = None,
                         read_only: tuple[str, ...] = (), writable: tuple[str, ...] = (),
                         labels: dict[str, str] | None = None,
                         user: str | None = None, groups: tuple[str, ...] = ()) -> dict[str, Any]:
    """The Docker worker's job variables of an arena job container (prefect.yaml holds them with
    `{{ $ARENA_HOME }}` and `{{ $ARENA_TABLE_PREFIX }}`).

    * host network: the Prefect API and the store answer on the worker host's loopback as for
      the host itself; host pid namespace: the pids arena records (container slots, checkout
      folders, sandbox labels) mean the same inside and out, so leftovers are judged right;
    * the Docker socket: the evaluation starts the team's sandbox as a SIBLING container, the
      same locked container as on the host (the job container itself is arena's trusted code);
    * the arena home at its own absolute path, with TMPDIR inside it: the daemon resolves the
      sandbox's bind mounts (history file, protocol socket folder) on the HOST, so every path
      must be the same inside and out; `writable`, `read_only`: more such paths (folders of
      settings outside the home; local team repos);
    * image_pull_policy Never: the image is built on the worker host (scripts/arena-image)."""
    variables: dict[str, Any] = {
        "image": image,
        "image_pull_policy": "Never",
        "network_mode": "host",
        "auto_remove": True,
        "stream_output": True,
        "volumes": [f"{DOCKER_SOCKET}:{DOCKER_SOCKET}", f"{home}:{home}", *(f"{p}:{p}" for p in writable),
                    *(f"{p}:{p}:ro" for p in read_only)],
        "env": {**(env or {}), "ARENA_HOME": home, "ARENA_TABLE_PREFIX": table_prefix,
                "ARENA_SANDBOX_BACKEND": "docker", "TMPDIR": f"{home}/tmp", "HOME": f"{home}/tmp"},
        "labels": {"arena.job": "1", **(labels or {})},
        "container_create_kwargs": {"pid_mode": "host", **({"user": user, "group_add": list(groups)} if user else {})},
    }
    return variables
