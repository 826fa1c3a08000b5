"""`arena timers`: the 2024 timers, commands on a six-field crontab (seconds first), kept as
Prefect schedules of the timer-command deployment."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli._common import console, fail, print_json
from cli._common import open_store_or_fail as _store

timers_app = typer.Typer(help="2024 timers: commands on a six-field crontab (seconds first).", no_args_is_help=True)


@timers_app.command("add")
def timers_add(
    command: Annotated[str, typer.Argument(help="The command line to run (split like a shell, no shell)")],
    crontab: Annotated[str, typer.Argument(help="Six fields, seconds first: '0/15 * * * * *'")],
    tz: Annotated[str, typer.Option("--timezone", help="IANA time zone of the crontab")] = "UTC",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add a timer: converted to a Prefect schedule of the timer-command deployment."""
    from deployments.timers import CrontabError, add_timer, apply_live

    try:
        timer = add_timer(_store(), command, crontab, tz=tz)
    except CrontabError as exc:
        fail(str(exc))
    live = apply_live(timer)
    if as_json:
        print_json({**timer, "live": live})
        return
    kind = next(k for k in ("cron", "interval", "rrule") if k in timer["schedule"])
    console.print(f"timer {timer['id']}: {command!r} on {kind} {timer['schedule'][kind]!r} ({live})", highlight=False)


@timers_app.command("list")
def timers_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every timer, with the Prefect schedule it became."""
    from deployments.timers import list_timers

    timers = list_timers(_store())
    if as_json:
        print_json(timers)
        return
    if not timers:
        console.print("no timers")
        return
    table = Table()
    for column in ("id", "crontab", "schedule", "command"):
        table.add_column(column, overflow="fold")
    for t in timers:
        kind = next(k for k in ("cron", "interval", "rrule") if k in t["schedule"])
        table.add_row(str(t["id"]), t["crontab"], f"{kind}: {t['schedule'][kind]}", t["command"])
    console.print(table)


@timers_app.command("remove")
def timers_remove(timer_id: Annotated[int, typer.Argument(help="Timer id")]) -> None:
    """Remove a timer (and its schedule from a running deployment)."""
    from deployments.timers import apply_live, remove_timer

    try:
        timer = remove_timer(_store(), timer_id)
    except KeyError as exc:
        fail(str(exc.args[0]), code=1)
    console.print(f"removed timer {timer_id} ({apply_live(timer, remove=True)})", highlight=False)




def register(app: typer.Typer) -> None:
    app.add_typer(timers_app, name="timers")
