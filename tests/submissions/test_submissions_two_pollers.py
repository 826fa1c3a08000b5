"""Two poller processes at once, over the same store file, the same git mirrors and the same GitHub
stand-in: every submission commit is requested exactly once between them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from git_helpers import commit, make_repo

from arena.models import Team

HERE = Path(__file__).parent


def race(tmp_path, *args: str) -> list[dict]:
    """Start two poller processes, release them together, return what each requested."""
    start_line = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent.parent), str(HERE)])}
    procs = [
        subprocess.Popen([sys.executable, str(HERE / "poller_proc.py"), str(start_line), *args],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < 2:  # both imported and connected, then go together
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "pollers did not start"
        time.sleep(0.01)
    start_line.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert all(r["errors"] == [] for r in results)
    return results


def test_two_pollers_at_once_never_duplicate_a_request(tmp_path, store, stub, settings):
    store.put_team(Team(team_id=101, team_name="Alpha", repo=str(make_repo(tmp_path / "alpha"))))
    store.put_team(Team(team_id=102, team_name="Beta", repo=f"file://{make_repo(tmp_path / 'beta')}"))
    stub.repos["org/gamma"] = make_repo(tmp_path / "gamma")
    store.put_team(Team(team_id=103, team_name="Gamma", repo="org/gamma"))
    repos = {101: tmp_path / "alpha", 102: tmp_path / "beta", 103: stub.repos["org/gamma"]}
    expected = set()
    for team_id, repo in repos.items():
        for n in range(4):
            expected.add((team_id, commit(repo, f"submission {n}")))
            commit(repo, f"work in progress {n}")

    results = race(tmp_path, "poll", "3")
    requested = [tuple(pair) for r in results for pair in r["requested"]]
    assert sorted(requested) == sorted(expected)  # each once, between the two
    rows = [(r.team_id, r.git_commit_hash) for r in store.list_tasks()]
    assert sorted(rows) == sorted(expected)


def test_two_processes_claiming_the_same_commits_write_one_row_each(tmp_path, store):
    """The claim race head-on: both processes try every one of the same 100 commits."""
    store.put_team(Team(team_id=101, team_name="Alpha", repo="org/alpha"))
    shas = [f"{n:040x}" for n in range(1, 101)]
    (tmp_path / "shas.json").write_text(json.dumps(shas))

    results = race(tmp_path, "request", str(tmp_path / "shas.json"))
    requested = [pair[1] for r in results for pair in r["requested"]]
    assert sorted(requested) == shas
    assert all(r["requested"] for r in results), "one process got everything: no race happened"
    assert sorted(r.git_commit_hash for r in store.list_tasks(team_id=101)) == shas
