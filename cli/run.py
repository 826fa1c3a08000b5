"""Running evaluations: `arena up` (everything on one machine), `arena round` and `arena backtest`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from cli._common import (
    check_objects_or_fail,
    console,
    fail,
    print_json,
    shown,
    use_prefect_server,
    warn_if_not_isolated,
)
from cli._common import (
    open_store_or_fail as _store,
)

if TYPE_CHECKING:
    from deployments.server import ServerRecord

# ---- up ------------------------------------------------------------------------------------


def _left_behind(home: Path) -> ServerRecord | None:
    from deployments.server import AlreadyRunning, server_left_behind

    try:
        return server_left_behind(home, say=lambda line: console.print(line, highlight=False))
    except AlreadyRunning as exc:
        fail(str(exc), code=1)


def _stop_serving(process: subprocess.Popen) -> None:
    """SIGINT first (Prefect's serve ends its runs' processes on it), then the whole group."""
    from deployments.server import stop_group

    stop_group(process.pid, process, signum=signal.SIGINT, wait_s=20.0)


def up(
    port: Annotated[int | None, typer.Option("--port", help="Local Prefect server port")] = None,
) -> None:
    """One machine: the embedded store, a local Prefect server (unless PREFECT_API_URL is set),
    and every deployment served with its schedule, all with one home (ARENA_HOME, default
    ./.arena here). The server is recorded in the home, so other commands attach to it. Ctrl-C
    or SIGTERM stops everything it started."""
    from prefect.settings import PREFECT_API_URL

    from arena.processes import end_with_parent
    from arena.settings import load_settings
    from deployments.server import ServerRecord, now_text, remove_record, start_local_server, stop_group, write_record

    settings = load_settings()
    home = settings.home  # absolute: the same folder for every process started below
    _store()  # the store must exist (`arena db init`): a typo must not start an empty competition
    console.print(f"home: {home}\nstore: {settings.store.url}", highlight=False)

    def stop_on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM (service managers, timeouts) stops everything too

    signal.signal(signal.SIGTERM, stop_on_term)
    # Every ARENA_* setting of this environment goes along; the home, made absolute, too.
    env = dict(os.environ, ARENA_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    server: subprocess.Popen | None = None
    server_pid: int | None = None
    record: ServerRecord | None = None
    serving: subprocess.Popen | None = None
    stopped = False  # Ctrl-C or SIGTERM asked for the stop

    def keep(process: subprocess.Popen, api_url: str) -> None:
        nonlocal server, server_pid, record
        server, server_pid = process, process.pid
        record = ServerRecord(api_url=api_url, pid=process.pid, started_at=now_text(), owner_pid=os.getpid())
        write_record(home, record)  # at once: a killed `arena up` leaves it for the next one to find

    try:
        api_url = PREFECT_API_URL.value()
        if api_url:  # the organiser's server: used, recorded for the CLI, never stopped
            _left_behind(home)
            record = ServerRecord(api_url=api_url, pid=None, started_at=now_text(), owner_pid=os.getpid())
            write_record(home, record)
        else:
            prefect_home = settings.flows.prefect_home or home / "prefect"
            env["PREFECT_HOME"] = str(prefect_home)
            left = _left_behind(home)
            if left is not None:
                console.print(f"reusing the Prefect server a stopped `arena up` left running (pid {left.pid}, "
                              f"since {left.started_at})", highlight=False)
                server_pid, api_url = left.pid, left.api_url
                record = ServerRecord(api_url=api_url, pid=left.pid, started_at=left.started_at, owner_pid=os.getpid())
                write_record(home, record)
            else:
                console.print("starting a local Prefect server...")
                try:
                    _, api_url = start_local_server(port or settings.flows.prefect_port, prefect_home, started=keep)
                except RuntimeError as exc:
                    fail(str(exc), code=1)
            env["PREFECT_API_URL"] = api_url
        # Children run in the organiser's folder (relative settings mean the same there) and
        # in sessions of their own, so the whole group of each is stopped below. The serving
        # process also ends when this one is killed (the server stays, for the next start to reuse).
        serving = subprocess.Popen([sys.executable, "-m", "deployments.serve"], env=env, start_new_session=True,
                                   preexec_fn=end_with_parent)
        console.print(f"Prefect UI: {api_url.removesuffix('/api')}  (deployments served; Ctrl-C to stop)",
                      highlight=False)
        while serving.poll() is None and (server is None or server.poll() is None):
            time.sleep(1)
    except KeyboardInterrupt:
        stopped = True  # whatever the serving process ends with from here on is this stop's doing
    finally:
        # A second Ctrl-C or SIGTERM must not cut the stopping short and leave a server behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if serving is not None:
            _stop_serving(serving)
        if server_pid is not None:
            stop_group(server_pid, server)
        if record is not None:
            remove_record(home, record)
    if serving is not None and not stopped and serving.returncode not in (0, None, -signal.SIGINT, 130):
        fail(f"serving stopped by itself (exit {serving.returncode})", code=1)


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
            shown(f"{row['team_id']} {row.get('team_name') or ''}".strip()), shown((row.get("commit") or "")[:8]),
            number(row.get("value")), number(row.get("score")), number(row.get("baseline_score")),
            shown(row.get("status", "") + (f": {row['error']}" if row.get("error") else "")),  # team text: inert
        )
    console.print(table)


def _show(rows: list[dict[str, Any]], title: str, as_json: bool) -> None:
    """The table, then exit code 1 when every evaluation tried failed on arena's side (a team's
    own error is a result like any other and leaves the exit code 0)."""
    from tasks.rounds import only_platform_failures

    if as_json:
        print_json(rows)
    else:
        print_ranked(rows, title)
    if only_platform_failures(rows):
        fail(f"{title}: every evaluation failed on arena's side (no team got a result); see the runs' logs",
             code=1)


def backtest_command(
    start: Annotated[str | None, typer.Option("--start", help="First interval end (naive = NEM time, or epoch); default: the competition's")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last interval end; default: the competition's")] = None,
    team: Annotated[int | None, typer.Option("--team", help="One team's current submission")] = None,
    all_teams: Annotated[bool, typer.Option("--all", help="Every team's current submission")] = False,
    rules: Annotated[str | None, typer.Option("--rules", help="Ruleset (default: the competition's)")] = None,
    trials: Annotated[int | None, typer.Option("--trials", min=1, help="Window plus trials-1 random sub-windows (default: the competition's)")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="default: the competition's")] = None,
    commit: Annotated[str | None, typer.Option("--commit", help="With --team: this commit instead")] = None,
    backend: Annotated[str | None, typer.Option("--backend", help="docker | process | local")] = None,
    force: Annotated[bool, typer.Option("--force", help="Evaluate again even if a result is stored")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run the backtest flow over a historical window and print the ranked table. A window the
    data does not fully cover is refused, naming what it covers; without --start/--end the
    competition's window is used as a round uses it (what a task row's recorded command runs)."""
    if (team is None) == (not all_teams):
        fail("give exactly one of --team ID or --all")
    _store(read_only=True)  # a missing store is one line here, not a failed flow run
    check_objects_or_fail()  # ... and so is a missing bucket
    from battery_sim.errors import BadInput

    backend = warn_if_not_isolated(backend)
    with use_prefect_server():
        from flows.evaluation import backtest

        try:
            rows = backtest(start=start, end=end, team=team, all_teams=all_teams, rules=rules, trials=trials,
                            seed=seed, commit=commit, backend=backend, force=force)
        except (BadInput, ValueError) as exc:
            fail(str(exc))
    _show(rows, f"backtest {start or 'competition start'} .. {end or 'competition end'}", as_json)


def round_command(
    via_deployments: Annotated[bool, typer.Option("--via-deployments", help="Start each team as a deployment run (workers share them)")] = False,
    backend: Annotated[str | None, typer.Option("--backend", help="docker | process | local")] = None,
    force: Annotated[bool, typer.Option("--force", help="Evaluate again even if a result is stored")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run one live round now (every team's current submission), then publish the leaderboard."""
    _store(read_only=True)  # a missing store is one line here, not a failed flow run
    check_objects_or_fail()  # ... and so is a missing bucket
    from battery_sim.errors import BadInput

    backend = warn_if_not_isolated(backend)
    with use_prefect_server():
        from flows.evaluation import evaluate_round

        try:
            rows = evaluate_round(backend=backend, via_deployments=via_deployments, force=force)
        except BadInput as exc:
            fail(str(exc))
    _show(rows, "round", as_json)


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("backtest")(backtest_command)
    app.command("round")(round_command)
