"""`arena tasks`: the task rows (the 2024 TaskManager table), by hand, and `arena tasks run`."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from arena.models import TaskRow, TaskState, TaskType
from cli._common import (
    check_objects_or_fail,
    console,
    err_console,
    fail,
    print_json,
    shown,
    use_prefect_server,
    warn_if_not_isolated,
)
from cli._common import (
    open_store_or_fail as open_store,
)

tasks_app = typer.Typer(help="Task rows: create, list, show, update, delete.", no_args_is_help=True)

# Words that clear an optional field from the command line (`arena tasks update 3 team_id null`).
_NULL_WORDS = {"null", "none"}


def register(app: typer.Typer) -> None:
    tasks_app.command("run")(tasks_run)
    tasks_app.command("sync")(tasks_sync)
    app.add_typer(tasks_app, name="tasks")


def _store_call(action, *args, **kwargs):
    from tasks.store import StoreError

    try:
        return action(*args, **kwargs)
    except StoreError as exc:
        fail(str(exc), code=1)


def _table(rows: list[TaskRow]) -> Table:
    table = Table(show_lines=False)
    for column in ("id", "state", "type", "team", "commit", "created", "command"):
        table.add_column(column, justify="right" if column == "id" else "left", overflow="fold")
    for row in rows:
        team = f"{row.team_id} {row.team_name or ''}".strip() if row.team_id is not None else ""
        table.add_row(
            str(row.id),
            row.state_.value,
            row.type.value,
            shown(team),
            (row.git_commit_hash or "")[:10],
            row.created_at[:19].replace("T", " "),
            shown(row.command if len(row.command) <= 60 else row.command[:57] + "..."),
        )
    return table


@tasks_app.command("create")
def create(
    command: Annotated[str, typer.Argument(help="The command line or description of the task")],
    type_: Annotated[TaskType, typer.Option("--type", help="Task type")] = TaskType.command,
    team: Annotated[int | None, typer.Option("--team", help="Team id (100-200)")] = None,
    commit: Annotated[str | None, typer.Option("--commit", help="Git commit SHA")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the new row as JSON")] = False,
) -> None:
    """Create a task row; prints the new id."""
    store = open_store()
    fields: dict[str, Any] = {"type": type_.value}
    if team is not None:
        fields["team_id"] = team
        from tasks.store import NotFound

        try:
            fields["team_name"] = store.get_team(team).team_name
        except NotFound:
            pass  # a task may name a team not registered (yet)
    if commit is not None:
        fields["git_commit_hash"] = commit
    row = _store_call(store.create_task, command, **fields)
    if as_json:
        print_json(row.to_item())
    else:
        typer.echo(row.id)


@tasks_app.command("list")
def list_(
    team: Annotated[int | None, typer.Option("--team", help="Only this team's rows")] = None,
    state: Annotated[TaskState | None, typer.Option("--state", help="Only rows in this state")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only rows created at or after (ISO time)")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most this many rows")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """List task rows in id order."""
    store = open_store(read_only=True)
    rows = _store_call(
        store.list_tasks, team_id=team, state=state.value if state else None, since=since, limit=limit
    )
    if as_json:
        print_json([row.to_item() for row in rows])
    elif not rows:
        console.print("no task rows")
    else:
        console.print(_table(rows))


@tasks_app.command("show")
def show(
    task_id: Annotated[int, typer.Argument(help="Task id")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Every field of one task row."""
    row = _store_call(open_store(read_only=True).get_task, task_id)
    if as_json:
        print_json(row.to_item())
        return
    table = Table(show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for field, value in row.to_item().items():
        table.add_row(field, "" if value is None else shown(value))  # diagnostics carry the team's text
    console.print(table)


def _parse_value(field: str, value: str) -> Any:
    if field not in TaskRow.model_fields or field in ("task", "id"):
        settable = sorted(set(TaskRow.model_fields) - {"task", "id"})
        fail(f"cannot set {field!r}; one of: {', '.join(settable)}")
    if value.lower() in _NULL_WORDS and TaskRow.model_fields[field].default is None:
        return None
    if field == "team_id":
        try:
            return int(value)
        except ValueError:
            fail(f"team_id must be a number, not {value!r}")
    return value


@tasks_app.command("update")
def update(
    task_id: Annotated[int, typer.Argument(help="Task id")],
    field: Annotated[str, typer.Argument(help="Field to set, e.g. state_ or diagnostic")],
    value: Annotated[str, typer.Argument(help="New value ('null' clears an optional field)")],
    expect_state: Annotated[
        TaskState | None, typer.Option("--expect-state", help="Only if the row is in this state now")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the new row as JSON")] = False,
) -> None:
    """Set one field of a task row."""
    parsed = _parse_value(field, value)
    row = _store_call(
        open_store().update_task, task_id, expect_state=expect_state.value if expect_state else None, **{field: parsed}
    )
    if as_json:
        print_json(row.to_item())
    else:
        console.print(f"task {row.id}: {field} = {shown(json.dumps(row.to_item()[field]))}", highlight=False)


@tasks_app.command("delete")
def delete(task_id: Annotated[int, typer.Argument(help="Task id")]) -> None:
    """Delete a task row (its id is never handed out again)."""
    _store_call(open_store().delete_task, task_id)
    console.print(f"deleted task {task_id}")


# ---- tasks run -----------------------------------------------------------------------------


def _plain_kickoff(backend: str | None, out: Any):
    """Evaluate a kickoff row without Prefect: the row's commit over the live window."""
    from arena.scoring import parse_time
    from arena.settings import CompetitionSettings
    from tasks.evaluation import evaluate_submission

    competition = CompetitionSettings()

    def evaluate(row):
        record = evaluate_submission(
            open_store(), row.team_id, row.git_commit_hash,
            window_start=parse_time(competition.window_start) if competition.window_start else None,
            window_end=parse_time(competition.window_end) if competition.window_end else None,
            rules=competition.rules, trials=competition.trials, seed=competition.seed, backend=backend,
            submitted_at=row.created_at, log=lambda line: out.print(f"  {line}", highlight=False),
        )
        _republish(out)
        return record

    return evaluate


def _republish(out: Any) -> None:
    """The site after each kickoff evaluated here, as after each evaluation flow (flows/hooks.py);
    a failed publish is a warning, never the evaluation's failure. No Prefect artifact: this is no
    flow run (the next round or evaluation flow updates it)."""
    from arena.settings import load_settings
    from tasks.publish import republish

    warn = lambda line: out.print(f"  [yellow]warning:[/] {shown(line)}", highlight=False)  # noqa: E731
    try:
        republish(open_store, load_settings(), artifact=False, warn=warn)
    except Exception as exc:
        warn(f"the leaderboard was not republished ({type(exc).__name__}: {exc}); the next evaluation or round will")


def tasks_run(
    sleep: Annotated[float, typer.Option("--sleep", min=0, help="Seconds between passes over the pending rows")] = 5.0,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit")] = False,
    timeout: Annotated[float | None, typer.Option("--timeout", min=1, help="Kill a command after this many seconds")] = None,
    backend: Annotated[str | None, typer.Option("--backend", help="Sandbox for evaluations: docker | process | local")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print each pass's summary as JSON")] = False,
) -> None:
    """Run pending task rows one at a time in id order: commands (no shell; exit code recorded)
    and submission kickoffs (evaluated over the live window). Loops until Ctrl-C unless --once."""
    store = open_store()
    check_objects_or_fail()  # kickoff rows write private trials: a missing bucket is one line now
    out = err_console if as_json else console  # --json: only JSON on stdout
    evaluate = _plain_kickoff(warn_if_not_isolated(backend), out)
    with use_prefect_server(temporary=False):  # the commands it runs (`arena round`...) attach to it too
        _run_passes(store, evaluate, sleep=sleep, once=once, timeout=timeout, as_json=as_json, out=out)


def _run_passes(store: Any, evaluate: Any, *, sleep: float, once: bool, timeout: float | None, as_json: bool,
                out: Any) -> None:
    from tasks.taskrows import run_pending

    while True:
        summary = run_pending(store, evaluate_kickoff=evaluate, command_timeout_s=timeout,
                              log=lambda line: out.print(line, highlight=False))
        if as_json:
            print_json(summary.to_item())
        elif summary.ran:
            console.print(f"ran {len(summary.ran)}: {len(summary.succeeded)} succeeded, {len(summary.failed)} failed")
        if once:
            return
        try:
            time.sleep(sleep)
        except KeyboardInterrupt:
            return


# ---- tasks sync ----------------------------------------------------------------------------


def tasks_sync(
    grace: Annotated[float, typer.Option("--grace", min=0, help="Leave runs that ended less than this many seconds ago to their own hooks")] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the row changes as JSON")] = False,
) -> None:
    """What `sync-task-rows` does, now: end `running` rows whose run is over and `pending` rows
    whose queuing run is dead, each with a diagnostic, and mark their Prefect runs CRASHED; give
    back the container slots of dead processes; prune their checkouts, mirror temp files and
    sandbox containers. Prints every change. Without a Prefect server (PREFECT_API_URL, or the one
    `arena up` runs) only rows whose process on this host is gone are ended, and no slot is given back."""
    from flows.taskrows import recover

    store = open_store()
    with use_prefect_server(temporary=False) as api_url:
        _sync(store, recover, bool(api_url), grace, as_json)


def _sync(store: Any, recover: Any, ask_prefect: bool, grace: float, as_json: bool) -> None:
    if not ask_prefect:
        err_console.print("[bold yellow]warning:[/] no Prefect server configured (PREFECT_API_URL): "
                          "only rows whose process on this host is gone are ended", highlight=False)
    try:
        done = _store_call(recover, store, ask_prefect=ask_prefect, grace_s=grace)
    except Exception as exc:  # Prefect unreachable: one line, not a traceback
        if isinstance(exc, typer.Exit):
            raise
        fail(f"cannot ask Prefect about the runs: {type(exc).__name__}: {exc}", code=1)
    if as_json:
        print_json([{"id": task_id, "state_": state, "diagnostic": diagnostic} for task_id, state, diagnostic in done.rows])
        return
    for line in done.lines():
        console.print(shown(line), highlight=False)
    console.print(f"{len(done.rows)} row(s) changed" if done.rows else "nothing to change")
