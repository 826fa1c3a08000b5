"""A round killed with SIGKILL mid-way, then started again: no task row left in running, no
submission lost, no submission evaluated twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from flowkit import git, team_repo


def _slow_team(root):
    """trend-rider, but each decision takes 20 ms: a round with it is still running when killed."""
    repo, _ = team_repo(root, "trend-rider")
    policy = repo / "bot" / "policies" / "trend.py"
    policy.write_text(policy.read_text().replace("    def act(self, external_state, internal_state):\n",
                                                 "    def act(self, external_state, internal_state):\n"
                                                 "        __import__('time').sleep(0.02)\n"))
    git(repo, "commit", "-q", "-am", "submission: think harder")
    return repo


def _round(env_vars):
    return subprocess.Popen([sys.executable, "-m", "cli", "round", "--backend", "process", "--json"],
                            env=env_vars, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


@pytest.mark.prefect
def test_kill_mid_round_then_start_again(harness, teams, store, tmp_path):
    from prefect.settings import PREFECT_API_URL

    from arena.models import Team
    from flows._prefect import read_run_info
    from flows.taskrows import sync_task_rows
    from tasks.scoring import BASELINE_TEAM_ID
    from tasks.submissions import poll_submissions

    slow = _slow_team(tmp_path / "slow")
    store.put_team(Team(team_id=150, team_name="slow-thinker", city="HOB", repo=str(slow)))
    assert len(poll_submissions(store).submissions) == 2  # its first try and the slow one
    env_vars = dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value(), ARENA_FLOWS_CONTAINER_LIMIT="1")

    killed = _round(env_vars)
    deadline = time.monotonic() + 240
    while not any(r.type.value == "evaluation" and r.team_id == 150 and r.state_.value == "running"
                  for r in store.list_tasks()):
        assert killed.poll() is None, killed.communicate()
        assert time.monotonic() < deadline, "the slow team never started"
        time.sleep(0.2)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    assert any(r.state_.value == "running" for r in store.list_tasks())  # the hooks never came

    sync_task_rows(grace_s=0)
    rows = store.list_tasks()
    assert not [r.id for r in rows if r.state_.value == "running"]
    # Rows the killed round queued for teams it never reached end too (their owner is gone).
    assert not [r.id for r in rows if r.type.value == "evaluation" and r.state_.value == "pending"]
    orphan = next(r for r in rows if r.type.value == "evaluation" and r.team_id == 150)
    assert orphan.state_.value == "error" and "stopped" in orphan.diagnostic
    assert read_run_info(orphan.flow_run_id).state_type == "CRASHED"  # Prefect's record agrees
    done_before = {s.team_id: s.evaluated_at for s in store.list_submissions() if s.team_id != BASELINE_TEAM_ID}
    assert done_before and 150 not in done_before  # killed part-way: some teams done, the slow one not

    again = _round(env_vars)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    records = store.list_submissions()
    by_team = {}
    for record in records:
        if record.team_id == BASELINE_TEAM_ID:
            continue
        by_team.setdefault(record.team_id, []).append(record)
    assert set(by_team) == {101, 102, 103, 150}  # nothing lost
    assert all(len(v) == 1 for v in by_team.values())
    for team_id, evaluated_at in done_before.items():  # nothing evaluated twice
        assert by_team[team_id][0].evaluated_at == evaluated_at
    assert not [r.id for r in store.list_tasks() if r.state_.value == "running"]
