"""Flow run names an organiser can read in the Prefect UI: `poll-2023-04-16T10:05`,
`round-<window end>`, `backtest-<team|all>-<start>..<end>`, `ingest-SA1-<time>`, `publish-<time>`.

Every time in a name is NEM time (UTC+10, as every naive time in arena), to the minute, written
the way arena reads a naive time back: a window end in a name can be pasted into `--end`.
A name is a label, never a reason to fail: a callable here never raises (Prefect calls it at run
start, outside the flow's own error handling)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run

from arena.scoring import parse_time
from arena.settings import CompetitionSettings, MarketSettings
from arena.text import one_line
from battery_sim.rules import NEM_TIME

_FORMAT = "%Y-%m-%dT%H:%M"


def nem_minute(epoch: int | float | None = None) -> str:
    """`epoch` (default: now) as NEM time to the minute: `2023-04-16T10:05`."""

    return datetime.fromtimestamp(time.time() if epoch is None else epoch, NEM_TIME).strftime(_FORMAT)


def bound(value: Any) -> str:
    """A window bound as a flow parameter or setting holds it (epoch, ISO text, naive NEM text)."""

    try:
        return nem_minute(parse_time(value))
    except Exception:  # shown as given (bounded): the run reports the bad bound itself
        return one_line(value, 40).replace(" ", "_")


def _parameters() -> dict[str, Any]:
    return dict(flow_run.parameters or {})


def _safe(build: Callable[[dict[str, Any]], str], fallback: str) -> Callable[[], str]:
    def name() -> str:
        try:
            return build(_parameters())
        except Exception:
            return f"{fallback}-{nem_minute()}"

    name.__name__ = f"{fallback}_run_name"
    return name


def _round(p: dict[str, Any]) -> str:
    end = p.get("window_end") or CompetitionSettings().window_end
    return f"round-{bound(end)}" if end not in (None, "") else "round-newest"


def round_name(window_end: int) -> str:
    """The name of a round once planned: its resolved window end."""
    return f"round-{nem_minute(window_end)}"


def _backtest(p: dict[str, Any]) -> str:
    return backtest_name(p.get("team"), p.get("start"), p.get("end"))


def backtest_name(team: Any, start: Any, end: Any) -> str:
    who = "all" if team in (None, "") else str(team)
    return f"backtest-{who}-{bound(start)}..{bound(end)}"


def _ingest(p: dict[str, Any]) -> str:
    region = str(p.get("region") or MarketSettings().region).upper()
    return f"ingest-{region}-{nem_minute()}"


POLL = _safe(lambda p: f"poll-{nem_minute()}", "poll")
ROUND = _safe(_round, "round")
BACKTEST = _safe(_backtest, "backtest")
INGEST = _safe(_ingest, "ingest")
PUBLISH = _safe(lambda p: f"publish-{nem_minute()}", "publish")
PENDING_TASKS = _safe(lambda p: f"tasks-{nem_minute()}", "tasks")
SYNC = _safe(lambda p: f"sync-{nem_minute()}", "sync")


def rename_current_run(name: str) -> None:
    """Rename the running flow run (a round learns its window end only once it has planned)."""

    if flow_run.id is None or flow_run.name == name:
        return
    try:
        with get_client(sync_client=True) as client:
            client.set_flow_run_name(flow_run.id, name)
    except Exception as exc:  # the API hiccuped: the run keeps its first name and goes on
        get_run_logger().warning(f"run not renamed to {name} ({type(exc).__name__}: {exc})")
