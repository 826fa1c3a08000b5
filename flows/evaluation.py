"""Evaluation flows: one submission, a live round (every team, one subflow each, bounded by the
`containers` concurrency limit, leaderboard published at the end), and backtests.

A team's failure is a recorded result: its evaluation run ends in a Failed state named TeamError
(flows/states.py) carrying the error record, never retried; arena's own failures raise, are
retried first, and end Failed / Crashed. A round or backtest completes whatever its teams did,
its state message counting them."""

from __future__ import annotations

import contextlib
from typing import Any

from prefect import flow, get_run_logger, tags, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.runtime import flow_run as current_run
from prefect.states import Completed, Failed

from arena.models import SubmissionRecord
from arena.scoring import parse_time
from arena.settings import CompetitionSettings, OrchestrationSettings
from battery_sim.data import iso
from battery_sim.rules import get_ruleset
from flows import names
from flows._prefect import ContainerThreads, container_slot, ensure_concurrency_limit, open_run_store, wait_for_runs
from flows._retry import PLATFORM_RETRIES
from flows.hooks import EVALUATION_HOOKS
from flows.publish import publish_leaderboard
from flows.states import final_state
from tasks import evaluation, markdown, rounds, taskrows
from tasks.leftovers import process_checkout_root
from tasks.store.base import Conflict
from tasks.store.objects import checked_objects

EVALUATE_FLOW = "evaluate-submission"  # its deployment: OrchestrationSettings.evaluate_deployment


def run_tags(team_id: int, sha: str) -> list[str]:
    return [f"team:{team_id}", f"commit:{sha[:7]}"]


def _when(value: str | int | None) -> int | None:
    return None if value in (None, "") else parse_time(value)


def _tag_current_run(extra: list[str]) -> None:
    """Add tags to the running flow run, whoever started it (UI, deployment, subflow, CLI)."""

    run_id = current_run.id
    if run_id is None:
        return
    missing = [t for t in extra if t not in (current_run.tags or [])]
    if missing:
        with get_client(sync_client=True) as client:
            client.update_flow_run(run_id, tags=[*(current_run.tags or []), *missing])


@task(task_run_name="run-{team_id}-{sha:.7}", **PLATFORM_RETRIES)
def run_evaluation(team_id: int, sha: str, window_start: int | None, window_end: int | None, rules: str,
                   trials: int, seed: int, backend: str | None, submitted_at: str | None,
                   claim: str | None = None, force: bool = False, private: bool = False,
                   live: bool = False) -> SubmissionRecord:
    logger = get_run_logger()
    return evaluation.evaluate_or_await(
        open_run_store(), team_id, sha, window_start=window_start, window_end=window_end, rules=rules,
        trials=trials, seed=seed, backend=backend, submitted_at=submitted_at,
        checkout_root=process_checkout_root(),  # named by pid: a prune removes it once this process is gone
        container_slot=container_slot(), log=logger.info, claim=claim, force=force,
        run_id=str(current_run.id) if current_run.id else None, private=private, live_run=live,
    )


def attach_logs(record: SubmissionRecord) -> None:
    """The team's container log tail (and error), on the run: log lines and a markdown artifact."""
    logger = get_run_logger()
    if record.status != "success":
        logger.warning(f"team {record.team_id} commit {record.git_commit_hash[:7]}: {record.error}")
    if not record.logs_tail:
        return
    for line in record.logs_tail.splitlines()[-20:]:
        logger.info(f"[team {record.team_id}] {line}")
    create_markdown_artifact(
        markdown=markdown.team_log(record.team_id, record.team_name, record.git_commit_hash, record.status,
                                   record.error, record.logs_tail),
        description=f"team {record.team_id} container log tail",
    )


@flow(name="evaluate-submission", flow_run_name="evaluate-{team_id}-{sha:.7}", log_prints=True, **EVALUATION_HOOKS)
def evaluate_submission(
    team_id: int,
    sha: str,
    window_start: str | int | None = None,
    window_end: str | int | None = None,
    rules: str | None = None,
    trials: int = 1,
    seed: int = 42,
    backend: str | None = None,
    task_id: int | None = None,
    submitted_at: str | None = None,
    claim: str | None = None,
    force: bool = False,
    private: bool = False,
    live: bool | None = None,
) -> Any:
    """Check out, run in the sandbox over the window, score against the baseline, keep the public
    record and private trials. `task_id`: the task row this run keeps in step (hooks). Exactly
    once (tasks/claims.py): a commit already evaluated returns its record (unless `force`), one
    another run is evaluating waits for that run's record; `claim`: the token a round took.
    Returns the record (Completed), or a TeamError state carrying it when the team's code failed
    (called directly, that raises flows.states.TeamError; `return_state=True` gives the state).
    `private`: the window is a held-out one (its record private until `arena reveal`; no log artifact).
    `live`: advance the team's live run from its checkpoint (tasks/live.py); None = live when no
    window is given (the competition's live window, as a new submission's first evaluation)."""
    _tag_current_run(run_tags(team_id, sha))
    ensure_concurrency_limit()
    checked_objects()  # before the retried task: a missing bucket is not worth minutes of retries
    competition = CompetitionSettings()  # no window given: the competition's, as the round uses
    record = run_evaluation(team_id, sha, _when(window_start or competition.window_start),
                            _when(window_end or competition.window_end), rules or competition.rules,
                            trials, seed, backend, submitted_at, claim, force, private,
                            not private and (live if live is not None else window_start is None and window_end is None))
    if not private:  # a private run's log tail may print its score: the run's log only
        attach_logs(record)
    return final_state(record)


@task(task_run_name="team-{entry.team_id}")
def evaluate_in_subflow(entry: rounds.Entry, start: int, end: int, rules: str, trials: int, seed: int,
                        backend: str | None, task_id: int | None, force: bool, private: bool = False,
                        live: bool = False) -> str:
    """One team's evaluation as its own subflow run (named and tagged by team and commit).
    Returns the subflow's final state name (Completed, TeamError, Failed...); never raises, so one
    team cannot fail the round."""
    with tags(*run_tags(entry.team_id, entry.sha)):
        state = evaluate_submission(entry.team_id, entry.sha, start, end, rules, trials, seed, backend,
                                    task_id, entry.submitted_at, entry.claim, force, private, live,
                                    return_state=True)
    return state.name


def _evaluation_row(store: Any, entry: rounds.Entry, start: int, end: int, rules: str, trials: int, seed: int) -> int:
    # Owned by this run until its subflow's hook takes the row: if the round is killed first,
    # sync-task-rows sees the owner is gone and ends the row instead of leaving it pending.
    run_id = str(current_run.id) if current_run.id else None
    command = taskrows.evaluation_command(entry.team_id, entry.sha, start=start, end=end, rules=rules, trials=trials,
                                          seed=seed)
    row = store.create_task(command, type="evaluation", team_id=entry.team_id,
                            team_name=entry.team_name, git_commit_hash=entry.sha, flow_run_id=run_id,
                            diagnostic=taskrows.queued_note(run_id))
    return row.id


def _run_entries(entries: list[rounds.Entry], start: int, end: int, rules: str, trials: int, seed: int,
                 backend: str | None, via_deployments: bool, what: str, force: bool = False,
                 private: bool = False, live: bool = False) -> dict[int, str]:
    """Evaluate every entry not done in parallel, each claimed first (tasks/claims.py); wait for
    those another run is evaluating. {team_id: final state name, or rounds.BY_ANOTHER_RUN}.
    `private` (held-out windows): no task row, whose diagnostic (the score) a team page shows."""
    store = open_run_store()
    entries, others = rounds.claim_entries(store, entries, run_id=str(current_run.id) if current_run.id else None)
    rows = {e.team_id: None if private else _evaluation_row(store, e, start, end, rules, trials, seed) for e in entries}
    if not via_deployments:
        futures = {e.team_id: evaluate_in_subflow.submit(e, start, end, rules, trials, seed, backend, rows[e.team_id],
                                                         force, private, live)
                   for e in entries}
        states = {team_id: future.result() for team_id, future in futures.items()}
        return states | rounds.await_others(store, others, get_run_logger().info)

    started = {}
    for e in entries:
        run = run_deployment(
            f"{EVALUATE_FLOW}/{OrchestrationSettings().evaluate_deployment}", timeout=0, tags=run_tags(e.team_id, e.sha),
            flow_run_name=f"evaluate-{e.team_id}-{e.sha[:7]}",
            parameters=dict(team_id=e.team_id, sha=e.sha, window_start=start, window_end=end, rules=rules,
                            trials=trials, seed=seed, backend=backend, task_id=rows[e.team_id],
                            submitted_at=e.submitted_at, claim=e.claim, force=force, private=private, live=live),
        )
        started[e.team_id] = run.id
        if rows[e.team_id] is None:
            continue
        # The deployment run owns the row now: it runs even if this round dies meanwhile.
        with contextlib.suppress(Conflict):  # its hook got there first: the row is running
            store.update_task(rows[e.team_id], expect_state=taskrows.PENDING, flow_run_id=str(run.id),
                              diagnostic=f"queued as flow run {run.id}")
    finished = wait_for_runs(list(started.values()))
    states = {team_id: finished[run_id].state.name for team_id, run_id in started.items()}
    return states | rounds.await_others(store, others, get_run_logger().info)


def _records(store: Any, entries: list[rounds.Entry]) -> list[SubmissionRecord]:
    found = (evaluation.already_evaluated(store, e.team_id, e.key) for e in entries)
    return [record for record in found if record is not None]


def _summary(store: Any, entries: list[rounds.Entry], states: dict[int, str]) -> list[dict[str, Any]]:
    records = _records(store, entries)
    table = rounds.ranked(records)
    for row in table:
        row["run"] = states.get(row["team_id"], rounds.SKIPPED)
    lost = {e.team_id for e in entries} - {r.team_id for r in records}
    for team_id in sorted(lost):
        table.append({"rank": None, "team_id": team_id, "status": rounds.NOT_EVALUATED, "run": states.get(team_id)})
    return table


def _ended(table: list[dict[str, Any]], what: str) -> Any:
    """A Completed state carrying the table, its message counting how the teams ended (Failed when
    every team tried was lost to arena's own failure: rounds.only_platform_failures)."""

    ranked = sum(row.get("rank") is not None for row in table)
    team_errors = sum(row.get("status") == "error" for row in table)
    lost = sum(row.get("status") == rounds.NOT_EVALUATED for row in table)
    message = (f"{what}: {len(table)} team(s), {ranked} ranked, {team_errors} team error(s), "
               f"{lost} not evaluated (arena's failure)")
    if rounds.only_platform_failures(table):
        # Every team tried was lost to arena's own failure: the organiser must see a failed run.
        get_run_logger().error(message)
        return Failed(message=message, data=table)
    get_run_logger().info(message)
    return Completed(message=message, data=table)


@flow(name="evaluate-round", flow_run_name=names.ROUND, log_prints=True,
      task_runner=ContainerThreads())
def evaluate_round(
    rules: str | None = None,
    window_start: str | int | None = None,
    window_end: str | int | None = None,
    trials: int | None = None,
    seed: int | None = None,
    backend: str | None = None,
    via_deployments: bool = False,
    publish: bool = True,
    force: bool = False,
) -> list[dict[str, Any]]:
    """Every team's current submission over the live window (default: the competition's window,
    else all the data), one subflow per team, then the leaderboard. Teams whose commit already has
    a record over this window are skipped (a restarted round does not repeat work)."""
    logger = get_run_logger()
    competition = CompetitionSettings()
    rules = rules or competition.rules
    ensure_concurrency_limit()
    store = open_run_store()
    checked_objects()  # a missing bucket fails the round here, not after every team has run
    start, end, entries = rounds.plan(
        store, rules=rules, window_start=_when(window_start or competition.window_start),
        window_end=_when(window_end or competition.window_end), force=force)
    names.rename_current_run(names.round_name(end))
    todo = [e for e in entries if not e.done]
    logger.info(f"round over {start}..{end} ({rules}): {len(entries)} team(s), {len(todo)} to evaluate")
    states = _run_entries(todo, start, end, rules, trials or competition.trials,
                          competition.seed if seed is None else seed, backend, via_deployments, "round", force,
                          live=True)
    table = _summary(store, entries, states)
    taskrows.close_kickoffs(store, _records(store, entries))  # or `tasks run` would evaluate them again
    _private_round(store, competition, rules, trials or competition.trials,
                   competition.seed if seed is None else seed, backend, via_deployments, force)
    if publish:
        publish_leaderboard()
    return _ended(table, "round")


# -- private (held-out) windows, issue 19 -------------------------------------------------------------
def _private_round(store: Any, competition: CompetitionSettings, rules: str, trials: int, seed: int,
                   backend: str | None, via_deployments: bool, force: bool) -> None:
    """Score the counted submissions over each held-out window the data covers (rounds.plan_private),
    after the public part; what is told here is counts only: private scores stay in the store."""
    if not competition.private or rules != get_ruleset(competition.rules).name:
        return  # a round under other rules is not the competition's: its private board is not either
    logger = get_run_logger()
    plans, waiting = rounds.plan_private(store, competition, force=force)
    for line in waiting:
        logger.info(line)
    for plan in plans:
        todo = [e for e in plan.entries if not e.done]
        logger.info(f"held-out window {iso(plan.start)} .. {iso(plan.end)}: {len(plan.entries)} counted submission(s), "
                    f"{len(todo)} to evaluate")
        for layer in plan.layers:  # at most one entry per team in each
            _run_entries([e for e in layer if not e.done], plan.start, plan.end, rules, trials, seed, backend,
                         via_deployments, "private", force, private=True)


@flow(name="backtest", flow_run_name=names.BACKTEST, log_prints=True,
      task_runner=ContainerThreads())
def backtest(
    start: str | int | None = None,
    end: str | int | None = None,
    team: int | None = None,
    all_teams: bool = False,
    rules: str | None = None,
    trials: int | None = None,
    seed: int | None = None,
    commit: str | None = None,
    backend: str | None = None,
    force: bool = False,
) -> list[dict[str, Any]]:
    """One team (`team`, optionally a specific `commit`) or every team (`all_teams`) over any
    historical window; returns the ranked table (value = score - baseline). A bound given must be
    covered by the data (else BadInput naming what the data covers: never a silently shorter
    window); a bound left out is the competition's, resolved against the data as a round does."""
    if (team is None) == (not all_teams):
        raise ValueError("give exactly one of team=ID or all_teams=true")
    competition = CompetitionSettings()
    rules = rules or competition.rules
    trials = competition.trials if trials is None else trials
    seed = competition.seed if seed is None else seed
    ensure_concurrency_limit()
    store = open_run_store()
    checked_objects()  # a missing bucket fails the backtest here, not after every team has run
    evaluation.require_covered(store, None, _when(start), _when(end))
    window_start, window_end, entries = rounds.plan(
        store, rules=rules, window_start=_when(start or competition.window_start),
        window_end=_when(end or competition.window_end),
        team_ids=None if all_teams else [int(team)], commit=commit, force=force)
    names.rename_current_run(names.backtest_name(None if all_teams else team, window_start, window_end))
    todo = [e for e in entries if not e.done]
    states = _run_entries(todo, window_start, window_end, rules, trials, seed, backend, False, "backtest", force,
                          live=False)
    table = _summary(store, entries, states)

    create_table_artifact(table=markdown.table({k: r.get(k) for k in ("rank", "team_id", "team_name", "value", "score",
                                                                       "status")} for r in table),
                          key="backtest", description=markdown.text(f"backtest {rules} {start} .. {end}"))
    return _ended(table, "backtest")
