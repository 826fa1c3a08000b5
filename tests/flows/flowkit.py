"""Constants and helpers the orchestration tests share (imported by name: conftest is not)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "teams"
DATA_FILE = ROOT / "data" / "sa1_2023-04-15_2023-05-06_utc_pv.csv"
GIT_ID = ("-c", "user.name=Team Bot", "-c", "user.email=bot@example.invalid", "-c", "commit.gpgsign=false")

# One day of history, then a one-day window (NEM intervals, epoch seconds of interval ends).
DATA_START = 1681516800 + 300  # 2023-04-15 00:05 UTC
WINDOW_START = DATA_START + 86400
WINDOW_END = WINDOW_START + 86400 - 300


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *GIT_ID, *args], check=True, capture_output=True, text=True).stdout


def team_repo(root: Path, example: str, message: str = "submission: first try") -> tuple[Path, str]:
    """An example team's bot/ as a git repo with one submission commit; returns (repo, sha)."""
    repo = root / example
    shutil.copytree(EXAMPLES / example, repo)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return repo, git(repo, "rev-parse", "HEAD").strip()


def example_teams(store, root: Path) -> dict[int, str]:
    """Three example teams, each with one submission kickoff row: two that run, one that fails
    mid-window (broken-bot, at interval 199). {team_id: sha}."""
    from arena.models import Team
    from tasks.submissions import poll_submissions

    made = {}
    for team_id, example in ((101, "sunrise-solar"), (102, "trend-rider"), (103, "broken-bot")):
        repo, sha = team_repo(root, example)
        store.put_team(Team(team_id=team_id, team_name=example, city="ADL", repo=str(repo)))
        made[team_id] = sha
    report = poll_submissions(store)
    assert len(report.submissions) == 3, report
    return made


def slow_team(root: Path, seconds: float = 0.02) -> Path:
    """trend-rider, but each decision takes `seconds`: a run with it is still going when killed."""
    repo, _ = team_repo(root, "trend-rider")
    policy = repo / "bot" / "policies" / "trend.py"
    policy.write_text(policy.read_text().replace("    def act(self, external_state, internal_state):\n",
                                                 "    def act(self, external_state, internal_state):\n"
                                                 f"        __import__('time').sleep({seconds})\n"))
    git(repo, "commit", "-q", "-am", "submission: think harder")
    return repo
