"""How long publishing the leaderboard takes, and how big the site gets.

A competition of N teams over a window of D days of 5-minute intervals: each team has 5
submissions (one failed), 20 task rows, and a full Submission Schema trial per
submission; the baseline's run is stored too. Measured: building the board, rendering
the site from records, the whole `publish_site` from a fresh SQLite store, and the size
of a team page (4 inline SVG charts) and of the whole folder.

    .venv/bin/python bench/leaderboard.py
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arena.models import SubmissionRecord, TaskRow, TaskState, Team  # noqa: E402
from arena.scoring import BASELINE_TEAM_ID, Window, baseline_record, build_leaderboard  # noqa: E402
from arena.settings import load_settings  # noqa: E402
from leaderboard.render import render_site  # noqa: E402
from tasks.publish import publish_site  # noqa: E402

START = 1_681_516_800  # 2023-04-15 00:00 UTC
RULES = "gbh2024-tariff"


def make_trial(n: int, seed: int) -> dict:
    soc, profit = 7.5, 0.0
    trial = {k: [] for k in ("profits", "socs", "market_prices", "timestamps", "actions", "solar_actions", "pv_inputs")}
    for i in range(n):
        price = 80 + 60 * math.sin(i / 288 * 2 * math.pi + seed) + (900 if i % 997 == seed % 997 else 0)
        grid = 5.0 if price < 80 else -5.0
        energy = max(-soc, min(13 - soc, grid / 12))
        soc += energy
        profit += round(-energy * price / 1000, 4)
        for key, value in (("profits", round(profit, 4)), ("socs", soc), ("market_prices", round(price, 2)),
                           ("timestamps", START + (i + 1) * 300), ("actions", grid), ("solar_actions", 0.0),
                           ("pv_inputs", 0.0)):
            trial[key].append(value)
    trial["final_soc"], trial["rundown_profit_deltas"] = soc, []
    return trial


def competition(teams_n: int, days: int):
    n = days * 288
    end = START + n * 300
    teams = [Team(team_id=100 + t, team_name=f"Team {t}", city="SYD", repo=f"o/t{t}") for t in range(teams_n)]
    subs = [SubmissionRecord(team_id=BASELINE_TEAM_ID, key="base", git_commit_hash="0" * 40, window_start=START,
                             window_end=end, rules=RULES, status="success", score=1.0, main_trial=make_trial(n, 0))]
    tasks, task_id = [], 1
    for team in teams:
        for s in range(5):
            failed = s == 4
            sha = f"{team.team_id:03d}{s:037d}"
            trial = make_trial(n // 2 if failed else n, team.team_id + s)
            subs.append(SubmissionRecord(
                team_id=team.team_id, key=SubmissionRecord.make_key(sha, START, end, RULES), git_commit_hash=sha,
                window_start=START, window_end=end, rules=RULES, submitted_at=f"2023-04-1{s}T00:00:00Z",
                status="error" if failed else "success", score=None if failed else trial["profits"][-1],
                baseline_score=1.0, steps=len(trial["profits"]), main_trial=trial,
                error="ValueError at interval" if failed else None, logs_tail="x\n" * 40 if failed else None))
        for _ in range(20):
            tasks.append(TaskRow(id=task_id, team_id=team.team_id, state_=TaskState.success, diagnostic="ok",
                                 logs_tail="line\n" * 40))
            task_id += 1
    return teams, subs, tasks, Window(START, end)


def timed(fn, repeat: int = 3) -> float:
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - began)
    return min(runs)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("| teams | days | build board | render site | publish_site (SQLite) | team page | site |")
    print("|---|---|---|---|---|---|---|")
    for teams_n, days in ((10, 1), (20, 7), (20, 28)):
        teams, subs, tasks, window = competition(teams_n, days)
        board = build_leaderboard(subs, teams, competition="bench", rules=RULES)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            counter = iter(range(1000))
            base = baseline_record(subs, window, RULES)
            # B023: each lambda is timed and dropped within its own iteration.
            t_board = timed(lambda: build_leaderboard(subs, teams, competition="bench", rules=RULES))  # noqa: B023
            t_render = timed(lambda: render_site(board, tmp / f"site{next(counter)}", teams=teams,  # noqa: B023
                                                 submissions=subs, tasks=tasks, baseline=base))  # noqa: B023
            site = tmp / "site0"
            page = (site / "teams" / f"{teams[0].team_id}.html").stat().st_size

            os.environ.update(ARENA_HOME=str(tmp / "home"), ARENA_STORE_URL=f"sqlite:///{tmp / 'home' / 'a.db'}",
                              ARENA_TABLE_PREFIX="bench", ARENA_COMPETITION_RULES=RULES)
            from tasks.store import open_store

            settings = load_settings()
            store = open_store(settings.store, create=True)
            for team in teams:
                store.put_team(team)
            for record in subs:
                store.put_submission(record)
            for row in tasks:
                store.create_task("bench", **row.model_dump(exclude={"task", "id", "command"}))
            t_publish = statistics.median([timed(lambda: publish_site(store, settings), 1) for _ in range(3)])  # noqa: B023
            size = folder_bytes(settings.site.folder)
        print(f"| {teams_n} | {days} | {t_board * 1000:.1f} ms | {t_render * 1000:.0f} ms | {t_publish * 1000:.0f} ms "
              f"| {page / 1024:.0f} KiB | {size / 1024:.0f} KiB |")


if __name__ == "__main__":
    main()
