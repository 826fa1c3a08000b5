"""The `poll-submissions` flow: new submission commits -> kickoff task rows -> evaluations."""

from __future__ import annotations

from prefect import flow, get_run_logger, task

from flows import names
from flows._prefect import open_run_store
from flows._retry import PLATFORM_RETRIES
from flows.taskrows import run_pending_tasks
from tasks import submissions


@task(**PLATFORM_RETRIES)
def poll_task(team_ids: list[int] | None) -> submissions.PollReport:
    return submissions.poll_submissions(open_run_store(), team_ids=team_ids)


@flow(name="poll-submissions", flow_run_name=names.POLL, log_prints=True)
def poll_submissions(team_ids: list[int] | None = None, evaluate: bool = True) -> dict:
    """Poll every team's branch; each new submission commit becomes a kickoff row, and (with
    `evaluate`) the pending kickoff rows are evaluated, one subflow each. The log says, per team,
    which commits were found or why the repo could not be read."""
    polled = poll_task(team_ids)
    logger = get_run_logger()
    for team in polled.teams:
        (logger.info if team.readable else logger.warning)(team.line())
    report = polled.to_item()
    over = sum(1 for s in polled.submissions if s.over_limit)
    logger.info(f"polled {report.get('teams_polled')} team(s): {len(polled.submissions) - over} new submission(s)"
                + (f", {over} over the submission limit (recorded, not evaluated)" if over else ""))
    for problem in report.get("errors", []):
        logger.warning(problem)
    if evaluate:
        report["evaluations"] = run_pending_tasks(types=["submission-kickoff"])
    return report
