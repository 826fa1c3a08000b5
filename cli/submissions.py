"""`arena submissions`: poll team branches now, list submission requests, check one out, forget one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli._common import console, fail, print_json, shown
from cli._common import open_store_or_fail as open_store

submissions_app = typer.Typer(help="Team submissions: commits whose message contains the pattern.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(submissions_app, name="submissions")


JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
TeamOpt = Annotated[list[int] | None, typer.Option("--team", help="Only this team; repeatable")]


@submissions_app.command("poll")
def poll(team: TeamOpt = None, as_json: JsonOpt = False) -> None:
    """Look for new submission commits once and write their evaluation requests."""
    from tasks.submissions import poll_submissions

    report = poll_submissions(open_store(), team_ids=team)
    if as_json:
        print_json(report.to_item())
    else:
        for s in report.submissions:
            subject = s.message.splitlines()[0] if s.message else ""  # the team's commit message
            said = "[yellow]over the submission limit[/] (recorded, not evaluated)" if s.over_limit else "new submission"
            console.print(f"team {s.team_id}: {said} {s.sha[:12]} -> task {s.task_id}  {shown(subject)}",
                          highlight=False)
        for p in report.problems:
            state = f"task {p.task_id}" if p.task_id else "reported before"
            console.print(f"[yellow]team {p.team_id}: {p.kind} ({state}):[/] {shown(p.diagnostic)}", highlight=False)
        for line in report.errors:
            console.print(f"[red]{shown(line)}[/]", highlight=False)
        console.print(f"{report.teams_polled} teams polled, {len(report.submissions)} new submissions")
    if report.errors and not report.submissions and not report.problems and report.teams_polled:
        raise typer.Exit(1)


@submissions_app.command("list")
def list_(team: TeamOpt = None, as_json: JsonOpt = False) -> None:
    """Submission requests (and polling diagnostics), oldest first."""
    from tasks.submissions import KICKOFF

    store = open_store(read_only=True)
    team_ids = team or [None]
    rows = [r for t in team_ids for r in store.list_tasks(team_id=t) if r.type.value == KICKOFF]
    rows.sort(key=lambda r: r.id)
    if as_json:
        print_json([r.to_item() for r in rows])
        return
    table = Table(title="submissions")
    for column in ("task", "team", "name", "commit", "state", "created", "diagnostic"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(str(r.id), str(r.team_id), shown(r.team_name or ""), shown((r.git_commit_hash or "")[:12]),
                      r.state_.value, r.created_at[:19], shown(r.diagnostic or ""))  # team text: inert
    console.print(table)


@submissions_app.command("checkout")
def checkout_(
    team_id: Annotated[int, typer.Argument(help="Team id")],
    sha: Annotated[str, typer.Argument(help="Full commit SHA")],
    dest: Annotated[Path, typer.Argument(help="New or empty folder")],
) -> None:
    """Write exactly that commit's files (no .git) into DEST."""
    from tasks.gitrepo import SourceError
    from tasks.store import NotFound
    from tasks.submissions import checkout

    store = open_store(read_only=True)
    try:
        team = store.get_team(team_id)
    except NotFound:
        fail(f"no team {team_id}")
    try:
        checkout(team, sha, dest)
    except SourceError as exc:
        fail(exc.diagnostic)
    except ValueError as exc:
        fail(str(exc))
    console.print(f"checked out {sha[:12]} of team {team_id} into {dest}")


@submissions_app.command("forget")
def forget(
    team_id: Annotated[int, typer.Argument(help="Team id")],
    sha: Annotated[str, typer.Argument(help="Full commit SHA")],
) -> None:
    """Release the seen-claim of a commit, so the next poll requests it again (e.g. after a poller died
    between claiming it and writing its row)."""
    store = open_store()
    key = f"seen:{team_id}:{sha.strip().lower()}"
    if store.get_meta(key) is None:
        fail(f"commit {sha} of team {team_id} was never seen")
    store.delete_meta(key)
    # Rewind the cursor too, or the next poll would walk only past it and not look at this commit.
    store.delete_meta(f"cursor:{team_id}")
    console.print(f"forgot {sha[:12]} of team {team_id}; the next poll requests it again if it is on the branch")
