"""`arena tasks`: the task rows (the 2024 TaskManager table), by hand.

`tasks_app` stays importable so `tasks run` can be attached later by `register_run(tasks_app)`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from arena.commands._common import console, fail, print_json
from arena.models import TaskRow, TaskState, TaskType

tasks_app = typer.Typer(help="Task rows: create, list, show, update, delete.", no_args_is_help=True)

# Words that clear an optional field from the command line (`arena tasks update 3 team_id null`).
_NULL_WORDS = {"null", "none"}


def register(app: typer.Typer) -> None:
    app.add_typer(tasks_app, name="tasks")


def open_store(create: bool = True):
    """The configured store, or a one-line error."""
    from arena.settings import StoreSettings
    from tasks.store import StoreError, open_store as _open

    try:
        return _open(StoreSettings(), create=create)
    except StoreError as exc:
        fail(f"cannot open the store: {exc}", code=1)


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
            team,
            (row.git_commit_hash or "")[:10],
            row.created_at[:19].replace("T", " "),
            row.command if len(row.command) <= 60 else row.command[:57] + "...",
        )
    return table


@tasks_app.command("create")
def create(
    command: Annotated[str, typer.Argument(help="The command line or description of the task")],
    type_: Annotated[TaskType, typer.Option("--type", help="Task type")] = TaskType.command,
    team: Annotated[Optional[int], typer.Option("--team", help="Team id (100-200)")] = None,
    commit: Annotated[Optional[str], typer.Option("--commit", help="Git commit SHA")] = None,
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
    team: Annotated[Optional[int], typer.Option("--team", help="Only this team's rows")] = None,
    state: Annotated[Optional[TaskState], typer.Option("--state", help="Only rows in this state")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Only rows created at or after (ISO time)")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="At most this many rows")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """List task rows in id order."""
    store = open_store()
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
    row = _store_call(open_store().get_task, task_id)
    if as_json:
        print_json(row.to_item())
        return
    table = Table(show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for field, value in row.to_item().items():
        table.add_row(field, "" if value is None else str(value))
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
        Optional[TaskState], typer.Option("--expect-state", help="Only if the row is in this state now")
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
        console.print(f"task {row.id}: {field} = {json.dumps(row.to_item()[field])}", highlight=False)


@tasks_app.command("delete")
def delete(task_id: Annotated[int, typer.Argument(help="Task id")]) -> None:
    """Delete a task row (its id is never handed out again)."""
    _store_call(open_store().delete_task, task_id)
    console.print(f"deleted task {task_id}")
