"""A small competition built by hand: one day of 5-minute intervals, a baseline run and
teams that score, tie, fail part-way, fail at once, or have no result yet.

Trials follow the 2024 Submission Schema and a simple, consistent battery (13 kWh,
5 kW), so charts have real shapes. Team 102's name is a script tag, to prove escaping.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from arena.models import SubmissionRecord, TaskRow, TaskState, TaskType, Team
from arena.scoring import BASELINE_TEAM_ID

RULES = "gbh2024-tariff"
START = int(datetime(2023, 4, 15, tzinfo=UTC).timestamp())
INTERVALS = 288
END = START + INTERVALS * 300
EVIL = "<script>alert(1)</script>"
# Strings that exist only in places the site must never show.
SECRET_REPO = "git@github.com:secret-org/private-repo-xyz.git"
SECRET_COMMAND = "internal-command-with-token-abc123"
LOG_OF_101 = "log-line-only-team-101-may-see-7f3a"


def prices(n: int = INTERVALS) -> list[float]:
    # An evening peak and a midday solar trough, with one spike.
    out = []
    for i in range(n):
        hour = ((START + (i + 1) * 300) / 3600 + 10) % 24
        p = 80 + 60 * math.sin((hour - 11) / 24 * 2 * math.pi) + (400 if 17 <= hour < 18 else 0)
        out.append(round(p, 2))
    return out


def trial(threshold: float, steps: int = INTERVALS, solar: bool = False) -> dict:
    """Charge below `threshold` $/MWh, discharge above it: a consistent Submission Schema trial."""
    soc, profit = 7.5, 0.0
    out = {k: [] for k in ("profits", "socs", "market_prices", "timestamps", "actions",
                           "solar_actions", "executed_actions", "executed_solar_actions", "pv_inputs")}
    for i, price in enumerate(prices()[:steps]):
        hour = ((START + (i + 1) * 300) / 3600 + 10) % 24
        pv = max(0.0, 4 * math.sin((hour - 6) / 12 * math.pi)) if 6 <= hour <= 18 else 0.0
        grid = 5.0 if price < threshold else -5.0
        energy = max(-soc, min(13 - soc, grid * 5 / 60))
        soc += energy
        profit += round(-energy * price / 1000, 4)
        out["profits"].append(round(profit, 4))
        out["socs"].append(round(soc, 4))
        out["market_prices"].append(price)
        out["timestamps"].append(START + (i + 1) * 300)
        out["actions"].append(grid)
        out["solar_actions"].append(pv if solar else 0.0)
        out["executed_actions"].append(round(energy / (5 / 60), 6))  # 0 when full or empty: the limits
        out["executed_solar_actions"].append(0.0)  # this simple battery stores no solar
        out["pv_inputs"].append(pv)
    out["final_soc"] = soc
    out["rundown_profit_deltas"] = []
    return out


def submission(team_id: int, name: str, sha: str, *, score: float | None, baseline: float | None = 10.0,
               status: str = "success", submitted_at: str = "2023-04-14T01:00:00.000000Z",
               evaluated_at: str = "2023-04-16T00:00:00.000000Z", start: int = START, end: int = END,
               rules: str = RULES, main_trial: dict | None = None, steps: int | None = None,
               **extra) -> SubmissionRecord:
    main_trial = main_trial if main_trial is not None else trial(80)
    return SubmissionRecord(
        team_id=team_id, key=SubmissionRecord.make_key(sha, start, end, rules), team_name=name,
        git_commit_hash=sha, window_start=start, window_end=end, rules=rules,
        submitted_at=submitted_at, evaluated_at=evaluated_at, status=status, score=score,
        baseline_score=baseline, steps=len(main_trial.get("profits", [])) if steps is None else steps,
        main_trial=main_trial, **extra,
    )


def sha(c: str) -> str:
    return (c * 40)[:40]


def make_competition():
    teams = [
        Team(team_id=101, team_name="Sparky", city="SYD", repo=SECRET_REPO),
        Team(team_id=102, team_name=EVIL, city="MEL", repo="o/evil"),
        Team(team_id=103, team_name="Volt Crashers", city="ADL", repo="o/volt"),
        Team(team_id=104, team_name="Tie Late", city="PER", repo="o/late"),
        Team(team_id=105, team_name="Tie Early", city="BNE", repo="o/early"),
        Team(team_id=106, team_name="Newcomers", city="HBA", repo="o/new"),
        Team(team_id=107, team_name="Import Trouble", city="DRW", repo="o/imp"),
    ]
    subs = [
        submission(BASELINE_TEAM_ID, "baseline", "0" * 40, score=10.0, main_trial=trial(90)),
        # 101: an older, better commit and a newer current one: the newer counts.
        submission(101, "Sparky", sha("a"), score=50.0, submitted_at="2023-04-13T00:00:00.000000Z",
                   evaluated_at="2023-04-15T00:00:00.000000Z"),
        submission(101, "Sparky", sha("b"), score=30.0, submitted_at="2023-04-14T00:00:00.000000Z",
                   main_trial=trial(75, solar=True), logs_tail=LOG_OF_101),
        # 101 also over another window: never mixed into this board.
        submission(101, "Sparky", sha("c"), score=999.0, submitted_at="2023-04-14T05:00:00.000000Z",
                   evaluated_at="2023-04-15T12:00:00.000000Z", start=START - 86400, end=START),
        submission(102, EVIL, sha("d"), score=25.0, main_trial=trial(85)),
        submission(103, "Volt Crashers", sha("e"), score=None, status="error", main_trial=trial(80, steps=120),
                   error="interval 120 (2023-04-15 10:05:00+00:00): ZeroDivisionError: division by zero in act()",
                   error_traceback='Traceback (most recent call last):\n  File "bot/policies/volt.py", line 12, in act\nZeroDivisionError: division by zero',
                   logs_tail="warming up\nabout to divide"),
        submission(104, "Tie Late", sha("f"), score=20.0, submitted_at="2023-04-14T03:00:00.000000Z"),
        submission(105, "Tie Early", sha("1"), score=20.0, submitted_at="2023-04-14T02:00:00.000000Z"),
        submission(107, "Import Trouble", sha("2"), score=None, status="error", main_trial={}, steps=0,
                   error="ModuleNotFoundError: No module named 'sklearn'"),
    ]
    tasks = [
        TaskRow(id=1, command=SECRET_COMMAND, team_id=101, team_name="Sparky", type=TaskType.evaluation,
                state_=TaskState.success, diagnostic="scored 30.00", git_commit_hash=sha("b"), logs_tail=LOG_OF_101),
        TaskRow(id=2, command="evaluate", team_id=103, team_name="Volt Crashers", type=TaskType.evaluation,
                state_=TaskState.error, diagnostic="error: interval 120 (2023-04-15 10:05:00+00:00): ZeroDivisionError: division by "
                           "zero in act() (gbh2024-tariff, 2023-04-15 00:05:00+00:00 .. 2023-04-16 00:00:00+00:00)", git_commit_hash=sha("e"),
                logs_tail="about to divide"),
        TaskRow(id=3, command="ingest", type=TaskType.ingest, state_=TaskState.success, diagnostic="internal"),
    ]
    return teams, subs, tasks
