"""Every deployment and schedule of arena, defined once, as data.

`deployments/serve.py` turns these into served deployments (one machine: `arena up`);
`prefect.yaml` at the repository root holds the same deployments for a process work pool
(scale-out), and tests/flows/test_deployments.py fails when the two differ.

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

WORK_POOL = "arena-process"
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
