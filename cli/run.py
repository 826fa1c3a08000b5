"""Running evaluations: `arena up` (everything on one machine), `arena round` and `arena backtest`."""

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

from cli._common import (
    check_objects_or_fail, console, fail, open_store_or_fail as _store, print_json, shown, warn_if_not_isolated,
)


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
    _store()  # the store must exist (`arena db init`): a typo must not start an empty competition
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
                               cwd=str(Path(__file__).resolve().parents[1]))
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
    start: Annotated[Optional[str], typer.Option("--start", help="First interval end (naive = NEM time, or epoch); default: the competition's")] = None,
    end: Annotated[Optional[str], typer.Option("--end", help="Last interval end; default: the competition's")] = None,
    team: Annotated[Optional[int], typer.Option("--team", help="One team's current submission")] = None,
    all_teams: Annotated[bool, typer.Option("--all", help="Every team's current submission")] = False,
    rules: Annotated[Optional[str], typer.Option("--rules", help="Ruleset (default: the competition's)")] = None,
    trials: Annotated[Optional[int], typer.Option("--trials", min=1, help="Window plus trials-1 random sub-windows (default: the competition's)")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="default: the competition's")] = None,
    commit: Annotated[Optional[str], typer.Option("--commit", help="With --team: this commit instead")] = None,
    backend: Annotated[Optional[str], typer.Option("--backend", help="docker | process | local")] = None,
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

    from flows.evaluation import backtest

    backend = warn_if_not_isolated(backend)
    try:
        rows = backtest(start=start, end=end, team=team, all_teams=all_teams, rules=rules, trials=trials, seed=seed,
                        commit=commit, backend=backend, force=force)
    except (BadInput, ValueError) as exc:
        fail(str(exc))
    _show(rows, f"backtest {start or 'competition start'} .. {end or 'competition end'}", as_json)


def round_command(
    via_deployments: Annotated[bool, typer.Option("--via-deployments", help="Start each team as a deployment run (workers share them)")] = False,
    backend: Annotated[Optional[str], typer.Option("--backend", help="docker | process | local")] = None,
    force: Annotated[bool, typer.Option("--force", help="Evaluate again even if a result is stored")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run one live round now (every team's current submission), then publish the leaderboard."""
    _store(read_only=True)  # a missing store is one line here, not a failed flow run
    check_objects_or_fail()  # ... and so is a missing bucket
    from battery_sim.errors import BadInput

    from flows.evaluation import evaluate_round

    backend = warn_if_not_isolated(backend)
    try:
        rows = evaluate_round(backend=backend, via_deployments=via_deployments, force=force)
    except BadInput as exc:
        fail(str(exc))
    _show(rows, "round", as_json)


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("backtest")(backtest_command)
    app.command("round")(round_command)
