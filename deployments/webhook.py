"""What a verified push does (`arena webhook`, tasks/webhook.py): poll that team at once, here,
so its kickoff rows are written within a second; and, when a Prefect server is there to run it
(the organiser's PREFECT_API_URL, or the server `arena up` records under the home), start a
`poll-submissions` run for that team, which evaluates the new rows at once and shows in the UI.
Without a server the rows wait for the next `arena tasks run`, round or `run-pending-tasks`.

The poll is the scheduled poll's own function (tasks.submissions.poll_submissions), so a push
and the schedule meeting on one commit write one row between them (its seen-claim)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.server import find_running
from tasks import submissions
from tasks.store.base import Store

POLL_DEPLOYMENT = "poll-submissions/poll-submissions"


def prefect_api(home: Path) -> str | None:
    """The Prefect API to start runs on now, or None when there is none to use."""
    configured = PREFECT_API_URL.value()
    if configured:
        return configured
    running = find_running(home)
    return running.api_url if running is not None else None


def start_poll_run(api_url: str, team_id: int) -> str:
    """A `poll-submissions` run for one team (not waited for); its id."""
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        run = run_deployment(POLL_DEPLOYMENT, parameters={"team_ids": [team_id]}, timeout=0)
    return str(run.id)


def poll_team_now(store: Store, home: Path, team_id: int, say: Callable[[str], None]) -> None:
    """The webhook's trigger for one team (see the module docstring)."""
    report = submissions.poll_submissions(store, team_ids=[team_id])
    for team in report.teams:
        say(f"webhook: {team.line()}")
    for line in report.errors:
        say(f"webhook: {line}")
    if not any(s.over_limit is None for s in report.submissions):
        return  # nothing new to evaluate
    api_url = prefect_api(home)
    if api_url is None:
        say(f"webhook: team {team_id}: no Prefect server is running; the new submission(s) wait for the next "
            "`arena tasks run`, round or run-pending-tasks")
        return
    try:
        say(f"webhook: team {team_id}: started flow run {start_poll_run(api_url, team_id)} to evaluate")
    except Exception as exc:  # not served (yet), server busy: the rows are written, the schedule runs them
        say(f"webhook: team {team_id}: could not start a {POLL_DEPLOYMENT} run ({type(exc).__name__}: {exc}); "
            "the new submission(s) are evaluated by the next scheduled run")
