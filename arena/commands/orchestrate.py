"""Orchestration commands: `arena up`, `arena round`, `arena backtest`, `arena timers`, and
`arena tasks run` (attached to the `tasks` sub-app)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from arena.commands._common import console, err_console, fail, print_json

timers_app = typer.Typer(help="2024 timers: commands on a six-field crontab (seconds first).", no_args_is_help=True)


def _store():
    from tasks.store import StoreError, open_store

    try:
        return open_store()
    except StoreError as exc:
        fail(f"cannot open the store: {exc}", code=1)


def _plain_kickoff(backend: str | None, out: Any):
    """Evaluate a kickoff row without Prefect: the row's commit over the live window."""
    from arena.settings import CompetitionSettings
    from tasks.evaluation import evaluate_submission
    from tasks.scoring import parse_time

    competition = CompetitionSettings()

    def evaluate(row):
        return evaluate_submission(
            _store(), row.team_id, row.git_commit_hash,
            window_start=parse_time(competition.window_start) if competition.window_start else None,
            window_end=parse_time(competition.window_end) if competition.window_end else None,
            rules=competition.rules, trials=competition.trials, seed=competition.seed, backend=backend,
            submitted_at=row.created_at, log=lambda line: out.print(f"  {line}", highlight=False),
        )

    return evaluate


def tasks_run(
    sleep: Annotated[float, typer.Option("--sleep", min=0, help="Seconds between passes over the pending rows")] = 5.0,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit")] = False,
    timeout: Annotated[Optional[float], typer.Option("--timeout", min=1, help="Kill a command after this many seconds")] = None,
    backend: Annotated[Optional[str], typer.Option("--backend", help="Sandbox for evaluations: docker | process | local")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print each pass's summary as JSON")] = False,
) -> None:
    """Run pending task rows one at a time in id order: commands (no shell; exit code recorded)
    and submission kickoffs (evaluated over the live window). Loops until Ctrl-C unless --once."""
    from tasks.taskrows import run_pending

    store = _store()
    out = err_console if as_json else console  # --json: only JSON on stdout
    evaluate = _plain_kickoff(backend, out)
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


# ---- timers --------------------------------------------------------------------------------


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


# ---- up ------------------------------------------------------------------------------------


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def up(
    port: Annotated[Optional[int], typer.Option("--port", help="Local Prefect server port")] = None,
) -> None:
    """One machine: the embedded store, a local Prefect server (unless PREFECT_API_URL is set),
    and every deployment served with its schedule. Ctrl-C stops both."""
    from arena.settings import load_settings
    from deployments.serve import start_local_server

    settings = load_settings()
    store = _store()
    store.init()
    console.print(f"store: {settings.store.url}", highlight=False)
    server = None
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    api_url = os.environ.get("PREFECT_API_URL")
    if not api_url:
        home = settings.home.resolve() / "prefect"
        console.print("starting a local Prefect server...")
        try:
            server, api_url = start_local_server(port or settings.flows.prefect_port, home)
        except RuntimeError as exc:
            fail(str(exc), code=1)
        env.update(PREFECT_API_URL=api_url, PREFECT_HOME=str(home))
    ui_url = api_url[: -len("/api")] if api_url.endswith("/api") else api_url

    def stop_on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM (service managers, timeouts) stops both children too

    signal.signal(signal.SIGTERM, stop_on_term)
    serving = subprocess.Popen([sys.executable, "-m", "deployments.serve"], env=env,
                               cwd=str(Path(__file__).resolve().parents[2]))
    console.print(f"Prefect UI: {ui_url}  (deployments served; Ctrl-C to stop)", highlight=False)
    try:
        while serving.poll() is None and (server is None or server.poll() is None):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        _stop(serving)
        _stop(server)
    if serving.returncode not in (0, None, -signal.SIGINT, 130):
        fail(f"serving stopped (exit {serving.returncode})", code=1)


# ---- round and backtest ----------------------------------------------------------------------


def print_ranked(rows: list[dict[str, Any]], title: str) -> None:
    table = Table(title=title)
    for column in ("rank", "team", "commit", "value", "score", "baseline", "status"):
        table.add_column(column, justify="right" if column in ("rank", "value", "score", "baseline") else "left")

    def number(value: Any) -> str:
        return "" if value is None else f"{value:.4f}"

    for row in rows:
        table.add_row(
            "" if row.get("rank") is None else str(row["rank"]),
            f"{row['team_id']} {row.get('team_name') or ''}".strip(), (row.get("commit") or "")[:8],
            number(row.get("value")), number(row.get("score")), number(row.get("baseline_score")),
            row.get("status", "") + (f": {row['error']}" if row.get("error") else ""),
        )
    console.print(table)


def backtest_command(
    start: Annotated[str, typer.Option("--start", help="First interval end (naive = NEM time, or epoch)")],
    end: Annotated[str, typer.Option("--end", help="Last interval end")],
    team: Annotated[Optional[int], typer.Option("--team", help="One team's current submission")] = None,
    all_teams: Annotated[bool, typer.Option("--all", help="Every team's current submission")] = False,
    rules: Annotated[Optional[str], typer.Option("--rules", help="Ruleset (default: the competition's)")] = None,
    trials: Annotated[int, typer.Option("--trials", min=1, help="Window plus trials-1 random sub-windows")] = 1,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    commit: Annotated[Optional[str], typer.Option("--commit", help="With --team: this commit instead")] = None,
    backend: Annotated[Optional[str], typer.Option("--backend", help="docker | process | local")] = None,
    force: Annotated[bool, typer.Option("--force", help="Evaluate again even if a result is stored")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run the backtest flow over a historical window and print the ranked table."""
    if (team is None) == (not all_teams):
        fail("give exactly one of --team ID or --all")
    from battery_sim.errors import BadInput

    from flows.evaluation import backtest

    try:
        rows = backtest(start=start, end=end, team=team, all_teams=all_teams, rules=rules, trials=trials, seed=seed,
                        commit=commit, backend=backend, force=force)
    except (BadInput, ValueError) as exc:
        fail(str(exc))
    if as_json:
        print_json(rows)
    else:
        print_ranked(rows, f"backtest {start} .. {end}")


def round_command(
    via_deployments: Annotated[bool, typer.Option("--via-deployments", help="Start each team as a deployment run (workers share them)")] = False,
    backend: Annotated[Optional[str], typer.Option("--backend", help="docker | process | local")] = None,
    force: Annotated[bool, typer.Option("--force", help="Evaluate again even if a result is stored")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run one live round now (every team's current submission), then publish the leaderboard."""
    from battery_sim.errors import BadInput

    from flows.evaluation import evaluate_round

    try:
        rows = evaluate_round(backend=backend, via_deployments=via_deployments, force=force)
    except BadInput as exc:
        fail(str(exc))
    if as_json:
        print_json(rows)
    else:
        print_ranked(rows, "round")


def register(app: typer.Typer) -> None:
    from arena.commands.tasks import tasks_app

    tasks_app.command("run")(tasks_run)
    app.add_typer(timers_app, name="timers")
    app.command("up")(up)
    app.command("backtest")(backtest_command)
    app.command("round")(round_command)
