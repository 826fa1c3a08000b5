"""Task-row bookkeeping: the 2024 TaskManager's table, kept in step with what really runs.

Rows move pending -> running -> success | error, and every end carries a diagnostic a team can
read. Three writers keep them honest:
  * the runner here (`run_pending`): claims pending rows one at a time in id order and runs
    them: `command` rows as commands (split like a shell, never through one), `submission-kickoff`
    rows as evaluations;
  * the Prefect state hooks of the flows (flows/hooks.py), which call `mark_*` below;
  * the reconciler (`reconcile`), for runs that ended without a hook (killed, crashed, lost
    machine): it asks Prefect what became of the row's flow run, so nothing stays `running`.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from arena.models import SubmissionRecord, TaskRow, TaskState, TaskType
from arena.processes import pid_alive
from arena.text import ERROR_MAX
from battery_sim.data import iso
from tasks.store.base import Conflict, NotFound, Store

PENDING, RUNNING, SUCCESS, ERROR = (s.value for s in (TaskState.pending, TaskState.running, TaskState.success, TaskState.error))
COMMAND, KICKOFF, EVALUATION = TaskType.command.value, TaskType.submission_kickoff.value, TaskType.evaluation.value
DIAGNOSTIC_MAX = ERROR_MAX  # the model's own bound (arena/text.py)
# The name of the Failed state an evaluation run ends in when the team's code failed
# (flows/states.py): a recorded result like a Completed run, never arena's failure.
TEAM_ERROR_STATE = "TeamError"
TAIL_LINES = 40
_OWNER = "running as pid "


def _short(text: str, limit: int = DIAGNOSTIC_MAX) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def tail(text: str | None, lines: int = TAIL_LINES) -> str | None:
    if not text:
        return None
    kept = text.rstrip("\n").splitlines()[-lines:]
    return "\n".join(kept) or None


# ---- state changes -------------------------------------------------------------------------


def owner_note() -> str:
    """Who runs a row outside Prefect; the reconciler reads it back to find dead runners."""
    return f"{_OWNER}{os.getpid()} on {socket.gethostname()}"


def claim(store: Store, task_id: int, *, flow_run_id: str | None = None, diagnostic: str | None = None) -> TaskRow | None:
    """pending -> running, for exactly one caller; None when someone else took the row first."""
    fields: dict[str, Any] = {"state_": RUNNING, "diagnostic": diagnostic if diagnostic is not None else owner_note()}
    if flow_run_id is not None:
        fields["flow_run_id"] = flow_run_id
    try:
        return store.update_task(task_id, expect_state=PENDING, **fields)
    except (Conflict, NotFound):
        return None


def mark_running(store: Store, task_id: int, *, flow_run_id: str | None = None, diagnostic: str = "") -> TaskRow | None:
    """Any non-final row -> running (a hook's fast path). A row already success/error is left alone:
    a retry's on_running must not reopen a row whose run ended."""
    try:
        row = store.get_task(task_id)
    except NotFound:
        return None
    if row.state_.value in (SUCCESS, ERROR):
        return row
    fields: dict[str, Any] = {"state_": RUNNING, "diagnostic": _short(diagnostic or "running")}
    if flow_run_id is not None:
        fields["flow_run_id"] = flow_run_id
    return store.update_task(task_id, **fields)


def _finish(store: Store, task_id: int, state: str, diagnostic: str, logs_tail: str | None,
            expect_state: str | None = None, **extra: Any) -> TaskRow | None:
    fields: dict[str, Any] = {"state_": state, "diagnostic": _short(diagnostic), **extra}
    if logs_tail is not None:
        fields["logs_tail"] = tail(logs_tail)
    try:
        return store.update_task(task_id, expect_state=expect_state, **fields)
    except NotFound:
        return None  # deleted by hand while it ran
    except Conflict:
        return None  # not in `expect_state` any more: someone else moved it


def mark_success(store: Store, task_id: int, diagnostic: str, *, logs_tail: str | None = None, **extra: Any) -> TaskRow | None:
    return _finish(store, task_id, SUCCESS, diagnostic, logs_tail, **extra)


def mark_error(store: Store, task_id: int, diagnostic: str, *, logs_tail: str | None = None, **extra: Any) -> TaskRow | None:
    return _finish(store, task_id, ERROR, diagnostic, logs_tail, **extra)


def mark_evaluated(store: Store, task_id: int, record: SubmissionRecord, *, expect_state: str | None = None) -> TaskRow | None:
    """The end of an evaluation row: success with the score, or error with the team's message.
    `expect_state`: only if the row is still in that state (None when it is not)."""
    from tasks.evaluation import describe  # noqa: PLC0415 - evaluation builds on this module

    state = SUCCESS if record.status == "success" else ERROR
    return _finish(store, task_id, state, describe(record), record.logs_tail, expect_state=expect_state)


def close_kickoffs(store: Store, records: Iterable[SubmissionRecord]) -> list[int]:
    """End the pending kickoff rows of the commits a round evaluated (or found evaluated) as
    `mark_evaluated` would, so `arena tasks run` and `run-pending-tasks` do not evaluate them
    again. A row a runner already claimed is left to it (it finds the record and ends the row)."""
    by_commit = {(r.team_id, r.git_commit_hash): r for r in records}
    closed = []
    for row in store.list_tasks(state=PENDING):
        record = by_commit.get((row.team_id, row.git_commit_hash)) if row.type.value == KICKOFF else None
        if record is not None and mark_evaluated(store, row.id, record, expect_state=PENDING) is not None:
            closed.append(row.id)
    return closed


def platform_diagnostic(message: str) -> str:
    return (f"arena could not finish this run (a problem on arena's side, not in your code): {message}. "
            "The organisers are told; the submission is evaluated again in the next round.")


# ---- the command a row records ----------------------------------------------------------------


def evaluation_command(team_id: int, sha: str, *, start: int | None = None, end: int | None = None,
                       rules: str | None = None, trials: int | None = None, seed: int | None = None) -> str:
    """The `arena` command line an organiser can paste to run this evaluation again (2024 rows
    carried a command too): `arena backtest` of the commit with what is given (window, rules,
    trials, seed); what is not given is the competition's, as a round evaluates it. Quoted for a
    POSIX shell."""

    argv = ["arena", "backtest", "--team", str(int(team_id)), "--commit", sha]
    for flag, value in (("--start", start), ("--end", end)):
        if value is not None:
            argv += [flag, iso(value)]
    for flag, value in (("--rules", rules), ("--trials", trials), ("--seed", seed)):
        if value is not None:
            argv += [flag, str(value)]
    return shlex.join(argv)


# ---- running commands ----------------------------------------------------------------------


@dataclass(frozen=True)
class CommandResult:
    ok: bool
    diagnostic: str
    output: str | None


def run_command(command: str, *, timeout_s: float | None = None, cwd: str | None = None) -> CommandResult:
    """Run one command line: split like a shell (quotes work), executed without a shell, so
    `;`, `|` and `$(...)` are plain arguments. The diagnostic names the exit code."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        return CommandResult(False, f"cannot split the command line: {exc}", None)
    if not argv:
        return CommandResult(False, "empty command", None)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, cwd=cwd,
                              stdin=subprocess.DEVNULL, errors="replace")
    except FileNotFoundError:
        return CommandResult(False, f"command not found: {argv[0]}", None)
    except PermissionError:
        return CommandResult(False, f"not executable: {argv[0]}", None)
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or "") + (exc.stderr or "") if isinstance(exc.stdout, str) else None
        return CommandResult(False, f"timed out after {timeout_s:g} s (killed)", tail(output))
    output = tail((done.stdout or "") + (done.stderr or ""))
    if done.returncode == 0:
        return CommandResult(True, "exit code 0", output)
    if done.returncode < 0:
        return CommandResult(False, f"killed by signal {-done.returncode} (exit code {done.returncode})", output)
    last = (done.stderr or "").strip().splitlines()[-1:] or [""]
    reason = f": {last[0][:300]}" if last[0] else ""
    return CommandResult(False, f"exit code {done.returncode}{reason}", output)


@dataclass
class RunSummary:
    ran: list[int] = field(default_factory=list)
    succeeded: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)

    def to_item(self) -> dict[str, list[int]]:
        return {"ran": self.ran, "succeeded": self.succeeded, "failed": self.failed, "skipped": self.skipped}


EvaluateKickoff = Callable[[TaskRow], SubmissionRecord]


def run_pending(
    store: Store,
    *,
    evaluate_kickoff: EvaluateKickoff | None = None,
    flow_run_id: str | None = None,
    command_timeout_s: float | None = None,
    types: Iterable[str] = (COMMAND, KICKOFF),
    log: Callable[[str], None] = lambda message: None,
) -> RunSummary:
    """Run every pending row of `types`, one at a time, in id order, each claimed first so two
    runners never run one row. Commands record their exit code; kickoff rows become evaluations
    through `evaluate_kickoff(row)` (its platform failures end the row as error with a platform
    diagnostic; they are not the team's). Rows created while this runs wait for the next call."""
    from tasks.evaluation import BeingEvaluated  # noqa: PLC0415 - evaluation builds on this module

    summary = RunSummary()
    wanted = set(types)
    for row in store.list_tasks(state=PENDING):
        if row.type.value not in wanted:
            continue
        if row.type.value == KICKOFF and (evaluate_kickoff is None or not row.git_commit_hash):
            summary.skipped.append(row.id)
            continue
        if claim(store, row.id, flow_run_id=flow_run_id) is None:
            summary.skipped.append(row.id)
            continue
        summary.ran.append(row.id)
        if row.type.value == COMMAND:
            log(f"task {row.id}: {row.command}")
            result = run_command(row.command, timeout_s=command_timeout_s)
            (mark_success if result.ok else mark_error)(store, row.id, result.diagnostic, logs_tail=result.output)
            ok = result.ok
            log(f"task {row.id}: {result.diagnostic}")
        else:
            log(f"task {row.id}: evaluate team {row.team_id} commit {row.git_commit_hash[:12]}")
            try:
                record = evaluate_kickoff(row)
            except BeingEvaluated as busy:
                # Another run is evaluating this commit: the row waits for its record (the round
                # that holds it closes the row, else the next pass finds the record).
                store.update_task(row.id, state_=PENDING, flow_run_id=None, diagnostic=_short(f"waiting: {busy.why}"))
                summary.ran.remove(row.id)
                summary.skipped.append(row.id)
                log(f"task {row.id}: {busy.why}")
                continue
            except Exception as exc:
                mark_error(store, row.id, platform_diagnostic(f"{type(exc).__name__}: {exc}"))
                ok = False
            else:
                mark_evaluated(store, row.id, record)
                ok = record.status == "success"
        (summary.succeeded if ok else summary.failed).append(row.id)
    return summary


# ---- reconciling with Prefect ----------------------------------------------------------------


@dataclass(frozen=True)
class RunInfo:
    """What Prefect says about a flow run: state type (COMPLETED, FAILED, CRASHED, CANCELLED,
    RUNNING...), state name, message, and when it ended."""

    state_type: str
    state_name: str = ""
    message: str = ""
    end_time: datetime | None = None

    @property
    def final(self) -> bool:
        return self.state_type in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")



def _local_owner(diagnostic: str) -> int | None:
    """The pid of a process on this host that runs the row, from its owner note (anywhere in
    the diagnostic: flow hooks add it after the run's name)."""
    found = re.search(re.escape(_OWNER) + r"(\d+) on (\S+?)\)?$", diagnostic)
    if found is None or found.group(2) != socket.gethostname():
        return None
    return int(found.group(1))


def _latest_record(store: Store, row: TaskRow) -> SubmissionRecord | None:
    if row.team_id is None or not row.git_commit_hash:
        return None
    found = [r for r in store.list_submissions(row.team_id) if r.git_commit_hash == row.git_commit_hash]
    return max(found, key=lambda r: r.evaluated_at) if found else None


def _ended_before(info: RunInfo, cutoff: datetime) -> bool:
    return info.end_time is None or info.end_time <= cutoff


def queued_note(flow_run_id: str | None) -> str:
    """The diagnostic of a row a run queues for itself (a round's evaluation rows): the reconciler
    reads the owner back to end the row if that run dies before it starts the row."""
    by = f"flow run {flow_run_id}" if flow_run_id else "a run"
    return f"queued by {by} ({owner_note()})"


def end_dead_pending(
    store: Store,
    read_run: Callable[[str], RunInfo | None] | None,
    *,
    grace_s: float = 60.0,
    now: datetime | None = None,
    pid_alive: Callable[[int], bool] = pid_alive,
    on_orphan: Callable[[str, str], None] | None = None,
) -> list[tuple[int, str, str]]:
    """End every `pending` row whose run is dead, so it cannot wait forever: the run that queued
    it (its `flow_run_id`) ended over `grace_s` ago or is unknown to Prefect, or the process named
    in its owner note ran on this host and is gone. A pending row with neither (queued by hand,
    by a poll) waits for a runner and is left alone. `read_run=None` (no Prefect to ask) judges
    by the owner note only. `on_orphan(flow_run_id, why)` is told of a queuing run Prefect still
    thinks is running whose process is gone. Returns [(task id, "error", diagnostic)]."""
    orphans: set[str] = set()
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=grace_s)
    changes: list[tuple[int, str, str]] = []
    for row in store.list_tasks(state=PENDING):
        info = read_run(row.flow_run_id) if (row.flow_run_id and read_run is not None) else None
        pid = _local_owner(row.diagnostic)
        if row.flow_run_id and read_run is not None and info is None:
            why = f"the run that queued it ({row.flow_run_id}) is unknown to Prefect"
        elif info is not None and info.final and _ended_before(info, cutoff):
            why = f"the run that queued it ended ({info.state_name or info.state_type}) before starting it"
        elif info is not None and info.final:
            continue  # ended moments ago: its own bookkeeping may still be on the way
        elif pid is not None and not pid_alive(pid):
            why = f"the process that queued it (pid {pid}) stopped"
            if info is not None and on_orphan is not None and row.flow_run_id not in orphans:
                orphans.add(row.flow_run_id)
                on_orphan(row.flow_run_id, platform_diagnostic(why))
        else:
            continue
        diagnostic = platform_diagnostic(why)
        try:
            store.update_task(row.id, expect_state=PENDING, state_=ERROR, diagnostic=_short(diagnostic))
        except (Conflict, NotFound):
            continue  # claimed (or deleted) meanwhile: not dead after all
        changes.append((row.id, ERROR, diagnostic))
    return changes


def reconcile(
    store: Store,
    read_run: Callable[[str], RunInfo | None],
    *,
    grace_s: float = 60.0,
    now: datetime | None = None,
    pid_alive: Callable[[int], bool] = pid_alive,
    on_orphan: Callable[[str, str], None] | None = None,
) -> list[tuple[int, str, str]]:
    """End every running row whose run is over but whose hook never came. Returns
    [(task id, new state, diagnostic)]. A run that ended less than `grace_s` ago is left to its
    own hook; a run Prefect does not know at all, and a local runner that died, end as error.
    `on_orphan(flow_run_id, why)` is told of runs Prefect thinks are running whose process died,
    so Prefect's record can be ended too."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=grace_s)
    changes: list[tuple[int, str, str]] = []
    for row in store.list_tasks(state=RUNNING):
        state, diagnostic, logs = None, "", None
        if row.flow_run_id:
            info = read_run(row.flow_run_id)
            if info is None:
                state, diagnostic = ERROR, platform_diagnostic(f"its run {row.flow_run_id} is unknown to Prefect")
            elif not info.final:
                # Prefect still says running, but a SIGKILL leaves it saying that forever: believe
                # the process that runs it, when it ran on this host and is gone.
                pid = _local_owner(row.diagnostic)
                if pid is None or pid_alive(pid):
                    continue
                state, diagnostic = ERROR, platform_diagnostic(f"the process running it (pid {pid}) stopped")
                if on_orphan is not None:
                    on_orphan(row.flow_run_id, diagnostic)
            elif not _ended_before(info, cutoff):
                continue
            elif info.state_type == "COMPLETED" or (info.state_type == "FAILED" and info.state_name == TEAM_ERROR_STATE):
                record = _latest_record(store, row) if row.type.value in (KICKOFF, EVALUATION) else None
                if record is not None:
                    from tasks.evaluation import describe  # noqa: PLC0415 - evaluation builds on this module

                    state, diagnostic, logs = (SUCCESS if record.status == "success" else ERROR), describe(record), record.logs_tail
                else:
                    state, diagnostic = SUCCESS, f"run {info.state_name or 'Completed'} (recorded by the reconciler)"
            elif info.state_type == "CRASHED":
                state, diagnostic = ERROR, platform_diagnostic(f"the run crashed ({info.message or info.state_name})")
            elif info.state_type == "CANCELLED":
                state, diagnostic = ERROR, f"cancelled by the organisers ({info.message or info.state_name})"
            else:
                state, diagnostic = ERROR, platform_diagnostic(info.message or info.state_name or "the run failed")
        else:
            pid = _local_owner(row.diagnostic)
            if pid is None or pid_alive(pid):
                continue
            state, diagnostic = ERROR, f"the runner (pid {pid}) stopped before this task finished"
        try:
            store.update_task(row.id, expect_state=RUNNING, state_=state, diagnostic=_short(diagnostic),
                              **({"logs_tail": tail(logs)} if logs else {}))
        except (Conflict, NotFound):
            continue  # its hook (or a person) got there first
        changes.append((row.id, state, diagnostic))
    return changes


def _not_asked(flow_run_id: str) -> RunInfo:
    return RunInfo("UNKNOWN", "no Prefect API to ask")  # not final: only a dead local owner ends a row


def sync(
    store: Store,
    read_run: Callable[[str], RunInfo | None] | None,
    *,
    grace_s: float = 60.0,
    now: datetime | None = None,
    pid_alive: Callable[[int], bool] = pid_alive,
    on_orphan: Callable[[str, str], None] | None = None,
) -> list[tuple[int, str, str]]:
    """`sync-task-rows` and `arena tasks sync`: `reconcile` the running rows, then
    `end_dead_pending`. With `read_run=None` (no Prefect server configured) nothing is asked of
    Prefect, so a run it would know about is never ended for being unknown; only rows whose
    owner on this host is gone are ended."""
    changes = reconcile(store, read_run or _not_asked, grace_s=grace_s, now=now, pid_alive=pid_alive,
                        on_orphan=on_orphan if read_run is not None else None)
    return changes + end_dead_pending(store, read_run, grace_s=grace_s, now=now, pid_alive=pid_alive,
                                      on_orphan=on_orphan if read_run is not None else None)
