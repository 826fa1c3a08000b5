"""What a live round costs: 5, 10 and 20 teams over 1 day, 1 week and 4 weeks of 5-minute data,
each team's submission run in the Docker sandbox, two containers at a time (the core count).

The round is the plain evaluation pipeline the `evaluate-round` flow runs per team (checkout,
container, trusted simulator, baseline, store), timed with the images already built, as they are
in a live round (images are built when a submission arrives). Prints one line per round and a
markdown table; `--quick` runs only the 20-team week.

Teams cycle through the three working example strategies; 4 weeks of data (plus one day of
history) are the bundled 22 days followed by the same days again, shifted in time.
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

WORKERS = os.cpu_count() or 2
DAY = 288


class Timed:
    """Adds up the seconds spent in each call of the wrapped object (thread-safe enough for sums)."""

    def __init__(self, inner, clock):
        self._inner, self._clock = inner, clock

    def __getattr__(self, name):
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                self._clock[name] = self._clock.get(name, 0.0) + time.perf_counter() - began
        return timed


def make_data(path: Path) -> None:
    import pandas as pd

    raw = pd.read_csv(ROOT / "data" / "sa1_2023-04-15_2023-05-06_utc_pv.csv")
    stamps = pd.to_datetime(raw["timestamp"], utc=True)
    shifted = raw.copy()
    shifted["timestamp"] = stamps + (stamps.iloc[-1] - stamps.iloc[0] + pd.Timedelta(minutes=5))
    raw["timestamp"] = stamps
    both = pd.concat([raw, shifted], ignore_index=True)
    both["timestamp"] = both["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S+00:00")
    both.to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="only the 20-team, one-week round")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="arena-round-bench-"))
    os.environ.update(ARENA_HOME=str(home), ARENA_STORE_URL=f"sqlite:///{home / 'arena.db'}",
                      ARENA_TABLE_PREFIX="bench", ARENA_OBJECTS_URL=str(home / "objects"))

    import tasks.sandbox as sandbox
    from arena.models import Team
    from cli import demo_kit as kit
    from tasks import evaluation
    from tasks.gitrepo import run_git
    from tasks.prices.ingest import ingest_file
    from tasks.store import open_store

    if sandbox.docker_ready() is not None:
        sys.exit(f"the Docker sandbox is not ready: {sandbox.docker_ready()}")
    store = open_store(create=True)
    data_file = home / "six-weeks.csv"
    make_data(data_file)
    ingest_file(store, data_file, "SA1")
    first = store.read_datapoints("NEM:SA1")[0].interval_end

    working = [e for e in kit.EXAMPLE_TEAMS if e.folder != "broken-bot"]
    repos = {e.folder: kit.make_repo(e, home / "repos") for e in working}
    heads = {f: run_git("rev-parse", "HEAD", cwd=r).stdout.strip() for f, r in repos.items()}
    teams = []
    for n in range(20):
        example = working[n % len(working)]
        team = Team(team_id=101 + n, team_name=f"{example.team_name} {n + 1}", city="ADL",
                    repo=str(repos[example.folder]))
        store.put_team(team)
        teams.append((team, heads[example.folder]))

    # Instrument the parts whose share of the round we report.
    starts: dict[int, float] = {}
    real_factory = sandbox.team_policy_factory

    def timed_factory(*a, **kw):
        make = real_factory(*a, **kw)

        def factory(*fa, **fkw):
            handle = make(*fa, **fkw)
            load = handle.load_historical

            def load_historical(df):  # container start, agent start, history file read
                began = time.perf_counter()
                load(df)
                starts[kw.get("team_id")] = starts.get(kw.get("team_id"), 0.0) + time.perf_counter() - began
            handle.load_historical = load_historical
            return handle
        return factory

    sandbox.team_policy_factory = timed_factory

    def round_of(n_teams: int, days: int) -> dict:
        start = first + DAY * 300  # one day of history before every window
        end = start + (days * DAY - 1) * 300
        store_clock: dict[str, float] = {}
        timed_store = Timed(store, store_clock)
        per_team: list[float] = []
        starts.clear()

        def one(item):
            team, sha = item
            began = time.perf_counter()
            # force: the same window is measured again for more teams; a stored record must not count
            record = evaluation.evaluate_submission(timed_store, team, sha, window_start=start, window_end=end,
                                                    rules="gbh2024-tariff", backend="docker", force=True)
            per_team.append(time.perf_counter() - began)
            assert record.status == "success", record.error
            return record

        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            list(pool.map(one, teams[:n_teams]))
        wall = time.perf_counter() - began
        busy = sum(per_team)
        return dict(teams=n_teams, days=days, intervals=days * DAY, wall_s=wall, per_team_s=busy / n_teams,
                    container_share=sum(starts.values()) / busy, store_share=sum(store_clock.values()) / busy,
                    store_s=sum(store_clock.values()))

    # Warm-up: builds each team's image once (as the arrival of a submission does) and the baseline cache.
    w_start = first + DAY * 300
    print(f"building {len(teams)} team images ...", flush=True)
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(lambda item: evaluation.evaluate_submission(
            store, item[0], item[1], window_start=w_start, window_end=w_start + 11 * 300,
            rules="gbh2024-tariff", backend="docker"), teams))
    print(f"images ready in {time.perf_counter() - began:.1f} s", flush=True)

    plan = [(20, 7)] if args.quick else [(t, d) for d in (1, 7, 28) for t in (5, 10, 20)]
    rows = []
    for n_teams, days in plan:
        row = round_of(n_teams, days)
        rows.append(row)
        print(f"round teams={row['teams']} days={row['days']} wall_s={row['wall_s']:.1f} "
              f"per_team_s={row['per_team_s']:.2f} container_start_share={row['container_share']:.0%} "
              f"store_share={row['store_share']:.0%}", flush=True)
    print("\n| teams | days | intervals | round wall time | per team (busy) | container start share | store share |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['teams']} | {r['days']} | {r['intervals']} | {r['wall_s']:.1f} s | {r['per_team_s']:.2f} s "
              f"| {r['container_share']:.0%} | {r['store_share']:.0%} |")
    week20 = next((r for r in rows if r["teams"] == 20 and r["days"] == 7), None)
    if week20:
        print(f"round_20_teams_1_week_s={week20['wall_s']:.1f}")


if __name__ == "__main__":
    main()
