"""One ranking: the round/backtest table and leaderboard.json rank the same records the same way,
ties and float noise included, and no second ranking exists anywhere in the code."""

from __future__ import annotations

import re
from pathlib import Path

from arena.models import Team
from arena.scoring import build_leaderboard, rank
from tasks.rounds import ranked
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
    """Anything that numbers rows into ranks outside arena/scoring.py is a second ranking."""
    numbering = re.compile(r"""\[\s*["']rank["']\s*\]\s*=\s*(?!None)|["']rank["']\s*:\s*(?!None|row|place|r\[)\w""")
    offenders = []
    for folder in ("arena", "battery_sim", "cli", "deployments", "flows", "leaderboard", "tasks"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "arena" / "scoring.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if numbering.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "ranks are assigned only by arena.scoring.rank:\n" + "\n".join(offenders)


def _noise_records():
    # 1.23 and 1.2300000001 over the same baseline: equal at the money decimals, so a tie, broken
    # by who sent the commit first. Team ids run against that order (193 sent first, 191 last).
    return [
        submission(191, "Third", sha("f"), score=11.23, submitted_at="2023-04-14T09:00:00Z"),
        submission(192, "Second", sha("g"), score=11.2300000001, submitted_at="2023-04-14T08:00:00Z"),
        submission(193, "First", sha("h"), score=11.23, submitted_at="2023-04-14T07:00:00Z"),
        submission(194, "Top", sha("i"), score=12.5, submitted_at="2023-04-14T10:00:00Z"),
        submission(195, "Failed", sha("j"), score=None, status="error", error="boom"),
    ]


def _cli_table_ranks(rows) -> list[tuple[str, str]]:
    """(team cell, rank cell) in the order `arena round` / `arena backtest` print them."""
    import io

    from rich.console import Console

    import cli.run

    out = io.StringIO()
    saved = cli.run.console
    cli.run.console = Console(file=out, width=200, color_system=None)
    try:
        cli.run.print_ranked(rows, "round")
    finally:
        cli.run.console = saved
    found = []
    for line in out.getvalue().splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line)[1:-1]]
        if len(cells) >= 2 and re.match(r"^\d{3} ", cells[1]):
            found.append((cells[1].split()[0], cells[0]))
    return found


def test_every_view_ranks_ties_and_float_noise_alike():
    """The round/backtest table (as the CLI prints it), leaderboard.json, the Prefect artifact and
    the site's ranking give the same ranks, the tie broken by the earlier submission."""
    from leaderboard.render import render_index
    from tasks.publish import artifact_table

    records = _noise_records()
    expected = [(194, 1), (193, 2), (192, 3), (191, 4), (195, None)]
    names = {r.team_id: r.team_name for r in records}
    teams = [Team(team_id=r.team_id, team_name=r.team_name, repo="o/r") for r in reversed(records)]

    table = ranked(list(reversed(records)))
    assert [(row["team_id"], row["rank"]) for row in table] == expected
    assert table[1]["value"] == table[2]["value"] == table[3]["value"] == 1.23  # one rounding
    assert _cli_table_ranks(table) == [(str(t), "" if r is None else str(r)) for t, r in expected]

    board = build_leaderboard(records, teams, competition="c", rules=RULES)
    assert [(row["team_id"], row["rank"]) for row in board["rows"]] == expected
    assert [row["value"] for row in board["rows"]] == [row["value"] for row in table]

    artifact = artifact_table(board)
    assert [(row["team"], row["rank"]) for row in artifact] == [(names[t], "" if r is None else r) for t, r in expected]

    page = render_index(board)
    shown = re.findall(r'<td data-sort="[^"]*">(\d+|–)</td>\s*<td data-sort="[^"]*"><a href="teams/(\d+)\.html">', page)
    assert [(int(team), rank) for rank, team in shown] == [(t, "–" if r is None else str(r)) for t, r in expected]


def test_the_task_row_and_the_team_page_show_the_boards_value():
    from leaderboard.render import _public_submission
    from tasks.evaluation import describe

    noisy = submission(192, "Second", sha("g"), score=11.23 + 0.0000499, baseline=10.0)
    value = rank([noisy])[0].value
    assert _public_submission(noisy)["value"] == value == 1.23
    assert f"{value:+.4f} vs baseline" in describe(noisy)


def _mentions(node, *words) -> bool:
    import ast

    for child in ast.walk(node):
        name = child.attr if isinstance(child, ast.Attribute) else child.id if isinstance(child, ast.Name) else \
            child.value if isinstance(child, ast.Constant) and isinstance(child.value, str) else None
        if name is not None and any(word in name for word in words):
            return True
    return False


def test_no_second_value_or_order_in_the_code():
    """Outside arena/scoring.py nothing orders records by value or score, and nothing computes a
    value (score minus baseline): a second ranking would start with one of those."""
    import ast

    offenders = []
    for folder in ("cli", "deployments", "flows", "leaderboard", "tasks"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "arena" / "scoring.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
                if isinstance(node, ast.Call):
                    func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                    key = next((k.value for k in node.keywords if k.arg == "key"), None)
                    if func in ("sort", "sorted", "max", "min", "nlargest", "nsmallest") and key is not None \
                            and _mentions(key, "value", "score"):
                        offenders.append(f"{where}: orders by value/score")
                if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) \
                        and _mentions(node.left, "score") and _mentions(node.right, "base"):
                    offenders.append(f"{where}: computes a value")
                if isinstance(node, ast.FunctionDef) and re.fullmatch(r"_?rank(ing|s)?", node.name) \
                        and _mentions(node, "value", "score"):
                    offenders.append(f"{where}: def {node.name}")
    assert not offenders, "value and order are arena.scoring.rank / row_value's alone:\n" + "\n".join(offenders)
