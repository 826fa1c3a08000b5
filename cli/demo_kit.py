"""The demo competition: four example teams as local git repos with submission commits, the
bundled real South Australia data, and the window they compete over.

Every step is safe to repeat: repos, teams and data already there are left as they are, and
the poller never turns a commit it has seen into a second evaluation.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from arena.models import Team
from tasks.gitrepo import run_git
from tasks.store.base import NotFound, Store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "teams"
DEMO_DATA = ROOT / "data" / "sa1_2023-04-15_2023-05-06_utc_pv.csv"
# The last week of the bundled data; everything before it is the teams' history.
DEMO_WINDOW = ("2023-04-29 10:00:00+10:00", "2023-05-06 09:55:00+10:00")
REGION = "SA1"


@dataclass(frozen=True)
class ExampleTeam:
    team_id: int
    folder: str
    team_name: str
    city: str
    commits: tuple[tuple[str, dict | None], ...]  # (message, policy parameters if not the final ones), oldest first


EXAMPLE_TEAMS = (
    ExampleTeam(101, "sunrise-solar", "Sunrise Solar", "ADL",
                (("start from the template", None), ("submission: store solar, sell at the peak", None))),
    ExampleTeam(102, "night-owl", "Night Owls", "MEL",
                (("submission: buy the cheap quarter of the last 8 hours", {"lookback": 96}),
                 ("try a longer lookback", {"lookback": 576}),
                 ("submission: one day lookback", None))),
    ExampleTeam(103, "trend-rider", "Trend Riders", "SYD", (("submission: moving averages cross", None),)),
    ExampleTeam(104, "broken-bot", "Broken Bot", "BNE",
                (("work in progress", None), ("submission: trust the forecast column", None))),
)

_GIT_ID = ("-c", "user.name=arena demo", "-c", "user.email=demo@arena.invalid", "-c", "commit.gpgsign=false")


def make_repo(example: ExampleTeam, repos_dir: Path) -> Path:
    """A local git repo on branch main whose commits carry the example's messages; the last
    commit holds the example team's files as they are in examples/teams."""
    repo = repos_dir / example.folder
    if (repo / ".git").is_dir():
        return repo
    tmp = repos_dir / f".{example.folder}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(EXAMPLES / example.folder, tmp)
    run_git("init", "-q", "-b", "main", cwd=tmp)
    config_path = tmp / "bot" / "config.json"
    final_config = json.loads(config_path.read_text())
    notes = tmp / "NOTES.md"
    for n, (message, parameters) in enumerate(example.commits, 1):
        notes.write_text(f"# {example.team_name}\n\n" + "".join(f"- {m}\n" for m, _ in example.commits[:n]))
        config = final_config if parameters is None else {
            "policy": {**final_config["policy"], "parameters": parameters}}
        config_path.write_text(json.dumps(config, indent=2) + "\n")
        run_git(*_GIT_ID, "add", "-A", cwd=tmp)
        run_git(*_GIT_ID, "commit", "-q", "-m", message, cwd=tmp)
    tmp.rename(repo)  # only a finished repo gets the real name
    return repo


def register_teams(store: Store, repos_dir: Path) -> list[Team]:
    teams = []
    for example in EXAMPLE_TEAMS:
        repo = make_repo(example, repos_dir)
        try:
            team = store.get_team(example.team_id)
        except NotFound:
            team = Team(team_id=example.team_id, team_name=example.team_name, city=example.city,
                        repo=str(repo.resolve()), branch="main")
            store.put_team(team)
        teams.append(team)
    return teams


def use_local_prefect(home: Path, port: int) -> tuple[str, int | None]:
    """The Prefect API to run the demo's flows on: PREFECT_API_URL when set, else a local server
    under `home` (reused when one already answers on the port, so re-runs are fast). Returns the
    API URL and the pid of a server this call started. Must run before prefect is imported."""
    import os

    from deployments.server import healthy, start_local_server

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"], None
    os.environ.setdefault("PREFECT_HOME", str(home))
    api_url, pid = f"http://127.0.0.1:{port}/api", None
    if not healthy(api_url):
        process, api_url = start_local_server(port, home)
        pid = process.pid
    os.environ["PREFECT_API_URL"] = api_url
    return api_url, pid
