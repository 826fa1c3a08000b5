"""What one live advance costs as the competition ages: 20 teams advanced by one hour (12 intervals)
when the competition is 1 day old and when it is 4 weeks old, incrementally (tasks/live.py: load the
checkpoint, run the 12 new intervals, keep a checkpoint) and through full replays of the whole window.

Each team's evaluation is the plain pipeline the evaluate-round flow runs per team (checkout, sandbox,
simulator, baseline, store, private trials), two at a time (the core count), timed after the team's
live run was brought to one hour before the measured end (untimed), as the rounds before would have.
`--backend process` (default: the same agent and protocol in a jailed subprocess, no container) or
`docker` (images built first, untimed). Not `local`: its imports of team code share one process.

Teams cycle through the three working example strategies; 4 weeks of data (plus one day of history)
are the bundled 22 days followed by the same days again, shifted in time (bench/round.py make_data).
The last line is `live_round_cost_ratio=R`: the incremental advance at 4 weeks over the one at 1 day.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.round import DAY, WORKERS, make_data  # noqa: E402

HOUR = 12
RULES = "gbh2024-tariff"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="process", choices=("process", "docker"))
    parser.add_argument("--teams", type=int, default=20)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="arena-live-bench-"))
    os.environ.update(ARENA_HOME=str(home), ARENA_STORE_URL=f"sqlite:///{home / 'arena.db'}",
                      ARENA_TABLE_PREFIX="bench", ARENA_OBJECTS_URL=str(home / "objects"))

    from arena.models import Team
    from cli import demo_kit as kit
    from tasks import evaluation
    from tasks.gitrepo import run_git
    from tasks.prices.ingest import ingest_file
    from tasks.store import open_store

    store = open_store(create=True)
    data_file = home / "six-weeks.csv"
    make_data(data_file)
    ingest_file(store, data_file, "SA1")
    first = store.read_datapoints("NEM:SA1")[0].interval_end
    working = [e for e in kit.EXAMPLE_TEAMS if e.folder != "broken-bot"]
    repos = {e.folder: kit.make_repo(e, home / "repos") for e in working}
    heads = {f: run_git("rev-parse", "HEAD", cwd=r).stdout.strip() for f, r in repos.items()}
    teams = []
    for n in range(args.teams):
        example = working[n % len(working)]
        team = Team(team_id=101 + n, team_name=f"{example.team_name} {n + 1}", city="ADL",
                    repo=str(repos[example.folder]))
        store.put_team(team)
        teams.append((team, heads[example.folder]))
    start = first + DAY * 300  # one day of history before the window

    def each(end: int, **options) -> tuple[float, list]:
        """Every team over [start, end], two at a time: (wall seconds, records)."""
        def one(item):
            team, sha = item
            record = evaluation.evaluate_submission(store, team, sha, window_start=start, window_end=end,
                                                    rules=RULES, backend=args.backend, **options)
            assert record.status == "success", record.error
            return record
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            records = list(pool.map(one, teams))
        return time.perf_counter() - began, records

    if args.backend == "docker":
        print(f"building {len(teams)} team images ...", flush=True)
        print(f"images ready in {each(start + 11 * 300, live_run=False)[0]:.1f} s", flush=True)
    rows = []
    for days in (1, 28):
        end = start + (days * DAY - 1) * 300
        each(end - HOUR * 300, live_run=True)  # the rounds before: the live run stands an hour before `end`
        incremental, records = each(end, live_run=True)
        assert all(not r.notes for r in records), records[0].notes
        replay, replays = each(end, live_run=False, force=True)
        assert [r.score for r in replays] == [r.score for r in records]  # the same leaderboard
        rows.append((days, days * DAY, incremental, replay))
        print(f"advance days={days} intervals={days * DAY} teams={len(teams)} backend={args.backend} "
              f"incremental_s={incremental:.2f} replay_s={replay:.2f}", flush=True)
    print("\n| competition age | window intervals | advance by 1 h, incremental | the same by full replays |")
    print("|---|---|---|---|")
    for days, n, incremental, replay in rows:
        print(f"| {days} day(s) | {n} | {incremental:.2f} s | {replay:.2f} s |")
    print(f"live_round_replay_cost_ratio={rows[1][3] / rows[0][3]:.2f}")
    print(f"live_round_cost_ratio={rows[1][2] / rows[0][2]:.2f}")


if __name__ == "__main__":
    main()
