"""One ranking: the round/backtest table and leaderboard.json rank the same records the same way,
ties and float noise included, and no second ranking exists anywhere in the code."""

from __future__ import annotations

import re
from pathlib import Path

from arena.models import Team
from tasks.rounds import ranked
from tasks.scoring import build_leaderboard, rank

from tests.leaderboard.leaderboard_data import RULES, sha, submission

ROOT = Path(__file__).resolve().parents[2]


def _tied_records():
    # Values 3.3 (= 13.3 - 10) and 1.1 + 2.2 (float noise: 3.3000000000000003) tie; team 104 sent
    # its commit first, so it ranks above 103 although its id is higher. 102 is ahead on value;
    # 105 failed; 101 has the same value as the tie but submitted last.
    return [
        submission(101, "Late", sha("a"), score=13.3, submitted_at="2023-04-14T05:00:00Z"),
        submission(102, "Best", sha("b"), score=20.0, submitted_at="2023-04-14T04:00:00Z"),
        submission(103, "Second", sha("c"), score=10.0 + (1.1 + 2.2), submitted_at="2023-04-14T03:00:00Z"),
        submission(104, "First", sha("d"), score=13.3, submitted_at="2023-04-14T01:00:00Z"),
        submission(105, "Broken", sha("e"), score=None, status="error", error="boom"),
    ]


def test_round_table_and_leaderboard_agree_on_ties_and_noise():
    records = _tied_records()
    teams = [Team(team_id=r.team_id, team_name=r.team_name, repo="o/r") for r in records]
    board = build_leaderboard(records, teams, competition="c", rules=RULES)
    from_board = [(row["team_id"], row["rank"], row["value"]) for row in board["rows"]]
    from_round = [(row["team_id"], row["rank"], row["value"]) for row in ranked(records)]
    assert from_board == from_round == [
        (102, 1, 10.0), (104, 2, 3.3), (103, 3, 3.3), (101, 4, 3.3), (105, None, None)]


def test_the_order_of_the_input_does_not_matter():
    records = _tied_records()
    assert [p.team_id for p in map(lambda r: r.record, rank(records))] == \
        [p.team_id for p in map(lambda r: r.record, rank(list(reversed(records))))]


def test_no_second_ranking_in_the_code():
    """Anything that numbers rows into ranks outside tasks/scoring.py is a second ranking."""
    numbering = re.compile(r"""\[\s*["']rank["']\s*\]\s*=\s*(?!None)|["']rank["']\s*:\s*(?!None|row|place|r\[)\w""")
    offenders = []
    for folder in ("arena", "battery_sim", "cli", "deployments", "flows", "leaderboard", "tasks"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "tasks" / "scoring.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if numbering.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "ranks are assigned only by tasks.scoring.rank:\n" + "\n".join(offenders)
