"""Task-row bookkeeping: commands, the runner, the reconciler, and `arena tasks run`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from cli import app
from tasks import taskrows
from tasks.taskrows import RunInfo


def test_run_command_records_exit_codes():
    assert taskrows.run_command("true") == taskrows.CommandResult(True, "exit code 0", None)
    assert taskrows.run_command("false").diagnostic == "exit code 1"
    result = taskrows.run_command("sh -c 'echo why >&2; exit 3'")
    assert not result.ok and result.diagnostic == "exit code 3: why" and result.output == "why"
    assert taskrows.run_command("no-such-command-here").diagnostic == "command not found: no-such-command-here"
    assert "timed out after 0.2 s" in taskrows.run_command("sleep 5", timeout_s=0.2).diagnostic


def test_no_shell_means_metacharacters_are_arguments(tmp_path):
    target = tmp_path / "should-not-exist"
    result = taskrows.run_command(f"echo hi; touch {target}")
    assert result.ok and result.output == f"hi; touch {target}" and not target.exists()


def test_runner_runs_pending_commands_in_id_order(store, tmp_path):
    log = tmp_path / "order.txt"
    ids = [store.create_task(f"sh -c 'echo {n} >> {log}'").id for n in (1, 2, 3)]
    failing = store.create_task("sh -c 'exit 3'").id
    done = store.create_task("true", state_="success").id  # not pending: left alone
    summary = taskrows.run_pending(store)
    assert summary.ran == [*ids, failing] and summary.failed == [failing]
    assert log.read_text().split() == ["1", "2", "3"]
    assert [store.get_task(i).state_.value for i in ids] == ["success"] * 3
    row = store.get_task(failing)
    assert row.state_.value == "error" and row.diagnostic == "exit code 3"
    assert store.get_task(done).diagnostic == ""
    assert taskrows.run_pending(store).ran == []  # nothing pending any more


def test_a_claimed_row_is_not_run_twice(store):
    row = store.create_task("true")
    assert taskrows.claim(store, row.id) is not None
    assert taskrows.claim(store, row.id) is None
    assert taskrows.run_pending(store).ran == []


def test_kickoff_rows_become_evaluations(store):
    from arena.models import SubmissionRecord

    row = store.create_task("arena evaluate --team 101", type="submission-kickoff", team_id=101, git_commit_hash="a" * 40)
    broken = store.create_task("arena evaluate --team 102", type="submission-kickoff", team_id=102, git_commit_hash="b" * 40)

    def evaluate(kickoff):
        if kickoff.team_id == 102:
            raise ConnectionError("store throttled")
        return SubmissionRecord(team_id=101, key="k", git_commit_hash=kickoff.git_commit_hash, window_start=0,
                                window_end=300, rules="gbh2024", status="error", error="act() raised KeyError: 'x'",
                                baseline_score=1.0, logs_tail="printed by the team")

    summary = taskrows.run_pending(store, evaluate_kickoff=evaluate)
    assert summary.failed == [row.id, broken.id]
    first = store.get_task(row.id)
    assert first.state_.value == "error" and "KeyError: 'x'" in first.diagnostic and first.logs_tail == "printed by the team"
    second = store.get_task(broken.id)
    assert second.state_.value == "error" and "not in your code" in second.diagnostic and "throttled" in second.diagnostic


def test_reconcile_ends_rows_whose_runs_ended_without_a_hook(store):
    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    long_ago = now - timedelta(minutes=10)
    runs = {
        "crashed": RunInfo("CRASHED", "Crashed", "process killed", long_ago),
        "completed": RunInfo("COMPLETED", "Completed", "", long_ago),
        "failed": RunInfo("FAILED", "Failed", "docker daemon down", long_ago),
        "cancelled": RunInfo("CANCELLED", "Cancelled", "by hand", long_ago),
        "running": RunInfo("RUNNING", "Running"),
        "just-ended": RunInfo("CRASHED", "Crashed", "", now - timedelta(seconds=5)),
    }
    rows = {name: store.create_task(name, state_="running", flow_run_id=name).id for name in runs}
    rows["unknown"] = store.create_task("unknown", state_="running", flow_run_id="gone").id
    changes = taskrows.reconcile(store, runs.get, now=now, grace_s=60)
    states = {name: store.get_task(task_id).state_.value for name, task_id in rows.items()}
    assert states == {"crashed": "error", "completed": "success", "failed": "error", "cancelled": "error",
                      "running": "running", "just-ended": "running", "unknown": "error"}
    assert "crashed (process killed)" in store.get_task(rows["crashed"]).diagnostic
    assert "docker daemon down" in store.get_task(rows["failed"]).diagnostic
    assert len(changes) == 5
    assert taskrows.reconcile(store, runs.get, now=now) == []  # idempotent


def test_reconcile_uses_the_stored_result_of_a_completed_evaluation(store):
    from arena.models import SubmissionRecord

    store.put_submission(SubmissionRecord(team_id=101, key="k", git_commit_hash="c" * 40, window_start=0, window_end=300,
                                          rules="gbh2024", status="error", error="StepTimeout at interval 7"))
    row = store.create_task("eval", type="evaluation", state_="running", flow_run_id="r", team_id=101,
                            git_commit_hash="c" * 40)
    taskrows.reconcile(store, lambda _: RunInfo("COMPLETED", end_time=None), grace_s=0)
    assert store.get_task(row.id).state_.value == "error"
    assert "StepTimeout at interval 7" in store.get_task(row.id).diagnostic


def test_reconcile_reads_a_team_error_run_as_the_teams_result_not_arenas_failure(store):
    """A run that ended in the TeamError state (flows/states.py) whose hook never came: the row
    says the team's error from the stored record, not "a problem on arena's side"."""
    from arena.models import SubmissionRecord

    store.put_submission(SubmissionRecord(team_id=101, key="k", git_commit_hash="d" * 40, window_start=0, window_end=300,
                                          rules="gbh2024", status="error", error="KeyError: 'price' at interval 3"))
    row = store.create_task("eval", type="evaluation", state_="running", flow_run_id="r", team_id=101,
                            git_commit_hash="d" * 40)
    failed = store.create_task("eval", type="evaluation", state_="running", flow_run_id="f", team_id=101,
                               git_commit_hash="d" * 40)
    runs = {"r": RunInfo("FAILED", taskrows.TEAM_ERROR_STATE, "team 101 ...", None),
            "f": RunInfo("FAILED", "Failed", "docker daemon down", None)}
    taskrows.reconcile(store, runs.get, grace_s=0)
    team_row = store.get_task(row.id)
    assert team_row.state_.value == "error" and "KeyError: 'price' at interval 3" in team_row.diagnostic
    assert "arena's side" not in team_row.diagnostic
    assert "not in your code" in store.get_task(failed.id).diagnostic  # a plain Failed stays arena's


def test_reconcile_ends_rows_of_a_dead_local_runner(store):
    dead = store.create_task("sleep 100", state_="running", diagnostic=f"{taskrows._OWNER}999999 on " + __import__("socket").gethostname())
    alive = store.create_task("sleep 100", state_="running", diagnostic=taskrows.owner_note())
    taskrows.reconcile(store, lambda _: None, pid_alive=lambda pid: pid != 999999)
    assert store.get_task(dead.id).state_.value == "error"
    assert "pid 999999" in store.get_task(dead.id).diagnostic
    assert store.get_task(alive.id).state_.value == "running"


def test_cli_tasks_run_once_runs_real_commands(store):
    runner = CliRunner()
    ids = []
    for command in ("true", "false", "sh -c 'exit 3'"):
        created = runner.invoke(app, ["tasks", "create", command])
        assert created.exit_code == 0, created.output
        ids.append(int(created.output.strip()))
    result = runner.invoke(app, ["tasks", "run", "--once", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ran"] == ids
    listed = json.loads(runner.invoke(app, ["tasks", "list", "--json"]).output)
    assert [(r["state_"], r["diagnostic"]) for r in listed] == [
        ("success", "exit code 0"), ("error", "exit code 1"), ("error", "exit code 3")]


def test_end_dead_pending_ends_rows_whose_queuing_run_is_dead(store):
    import socket

    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    long_ago = now - timedelta(minutes=10)
    host = socket.gethostname()
    runs = {
        "round-crashed": RunInfo("CRASHED", "Crashed", "killed", long_ago),
        "round-just-ended": RunInfo("COMPLETED", "Completed", "", now - timedelta(seconds=5)),
        "round-running": RunInfo("RUNNING", "Running"),
    }

    def queued(run_id, pid):
        return store.create_task("round: evaluate", type="evaluation", flow_run_id=run_id,
                                 diagnostic=f"queued by flow run {run_id} ({taskrows._OWNER}{pid} on {host})").id

    rows = {
        "crashed": queued("round-crashed", 1),
        "just-ended": queued("round-just-ended", 1),
        "running-alive": queued("round-running", 1),
        "running-dead": queued("round-running", 999999),
        "unknown": queued("gone", 1),
        "by-hand": store.create_task("python main.py").id,  # waits for a runner: not dead
    }
    done = store.create_task("true", state_="success", flow_run_id="gone").id
    changes = taskrows.end_dead_pending(store, runs.get, now=now, grace_s=60, pid_alive=lambda pid: pid != 999999)
    states = {name: store.get_task(task_id).state_.value for name, task_id in rows.items()}
    assert states == {"crashed": "error", "just-ended": "pending", "running-alive": "pending",
                      "running-dead": "error", "unknown": "error", "by-hand": "pending"}
    assert sorted(task_id for task_id, _, _ in changes) == sorted(rows[n] for n in ("crashed", "running-dead", "unknown"))
    assert all("not in your code" in diagnostic for _, _, diagnostic in changes)
    assert "ended (Crashed)" in store.get_task(rows["crashed"]).diagnostic
    assert "pid 999999" in store.get_task(rows["running-dead"]).diagnostic
    assert store.get_task(done).state_.value == "success"
    assert taskrows.end_dead_pending(store, runs.get, now=now, pid_alive=lambda pid: pid != 999999) == []


def test_sync_without_prefect_judges_by_the_local_owner_only(store):
    alive = store.create_task("round: evaluate", type="evaluation", flow_run_id="r1", diagnostic=taskrows.queued_note("r1"))
    running = store.create_task("eval", type="evaluation", state_="running", flow_run_id="r2",
                                diagnostic="running: flow run x")  # no owner note: Prefect alone could tell
    dead = store.create_task("round: evaluate", type="evaluation", flow_run_id="r3",
                             diagnostic=f"queued by flow run r3 ({taskrows._OWNER}999999 on "
                                        f"{__import__('socket').gethostname()})")
    changes = taskrows.sync(store, None, pid_alive=lambda pid: pid != 999999)
    assert [task_id for task_id, _, _ in changes] == [dead.id]
    assert store.get_task(alive.id).state_.value == "pending"
    assert store.get_task(running.id).state_.value == "running"


def test_cli_tasks_sync_ends_dead_rows_and_prints_them(store, monkeypatch):
    import socket
    import subprocess

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    ended = subprocess.Popen(["true"])
    ended.wait()  # a pid that really is gone (and reaped)
    gone = f"{taskrows._OWNER}{ended.pid} on {socket.gethostname()}"
    pending = store.create_task("round: evaluate", type="evaluation", diagnostic=f"queued by a run ({gone})")
    running = store.create_task("sleep 100", state_="running", diagnostic=gone)
    waiting = store.create_task("python main.py")
    # A process of its own: the session's Prefect harness stays configured in this one whatever
    # the environment says, and this case is a machine with no Prefect server at all.
    import os
    import sys

    def sync(*extra):
        return subprocess.run([sys.executable, "-m", "cli", "tasks", "sync", *extra], capture_output=True, text=True,
                              timeout=300, env={k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"})

    result = sync()
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"task {pending.id} -> error" in result.stdout and f"task {running.id} -> error" in result.stdout
    assert "2 row(s) changed" in result.stdout and "PREFECT_API_URL" in result.stderr
    assert store.get_task(waiting.id).state_.value == "pending"
    again = sync("--json")
    assert again.returncode == 0 and json.loads(again.stdout) == []


def test_cli_tasks_run_republishes_the_site_after_each_kickoff(market, env, tmp_path, monkeypatch):
    from pathlib import Path

    from flowkit import team_repo

    from arena.models import Team
    from tasks.submissions import poll_submissions

    monkeypatch.setenv("PREFECT_API_URL", "unset")  # no Prefect: this path publishes without one
    monkeypatch.delenv("PREFECT_API_URL")
    repo, sha = team_repo(tmp_path / "repos", "sunrise-solar")
    market.put_team(Team(team_id=101, team_name="sunrise-solar", city="ADL", repo=str(repo)))
    assert len(poll_submissions(market).submissions) == 1
    site = Path(env) / "site"
    assert not site.exists()
    result = CliRunner().invoke(app, ["tasks", "run", "--once", "--backend", "process", "--json"])
    assert result.exit_code == 0, result.output
    board = json.loads((site / "leaderboard.json").read_text())
    assert [(r["team_id"], r["status"], r["rank"]) for r in board["rows"]] == [(101, "success", 1)]
    assert sha[:7] in (site / "teams" / "101.html").read_text()
