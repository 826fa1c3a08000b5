"""The world a policy runs in, as in 2024: its working directory is the repository root (a
read-only copy of the whole tree), so `bot/data/...` and top-level files opened by relative
path are found; /tmp is the writable place. On both sandbox backends."""

from __future__ import annotations

import json

import pytest

from battery_sim.observation import Observation
from tasks.sandbox import team_policy_factory
from tests.sandbox.conftest import write_team

READER = '''
import json
import os

from policies.policy import Policy


class Reader(Policy):
    def __init__(self, **kwargs):
        super().__init__()
        with open("bot/data/example_historical.json") as f:  # the 2024 template's way
            self.level = json.load(f)["level"]
        with open("NOTES.md") as f:  # a file at the repository root
            self.notes = f.read().strip()

    def act(self, external_state, internal_state):
        try:
            open("bot/data/scratch.txt", "w")
            writable = True
        except OSError:
            writable = False
        with open("/tmp/scratch.txt", "w") as f:
            f.write("ok")
        return {"cwd": os.getcwd(), "level": self.level, "notes": self.notes, "code_writable": writable}
'''


@pytest.mark.parametrize("backend", ["docker", "process"])
def test_the_policy_runs_from_the_repository_root(tmp_path, market, backend, request):
    if backend == "docker":
        request.getfixturevalue("docker_engine")
    team = write_team(tmp_path / "team", READER, "Reader")
    (team / "bot" / "data").mkdir()
    (team / "bot" / "data" / "example_historical.json").write_text(json.dumps({"level": 42.5}))
    (team / "NOTES.md").write_text("root file\n")
    handle = team_policy_factory(team, backend=backend, team_id=152)()
    try:
        handle.load_historical(market.history(300))
        found = handle.act(Observation(market.columns, 300), {"remaining_steps": 1})
    finally:
        handle.close()
    assert found == {"cwd": "/opt/team", "level": 42.5, "notes": "root file", "code_writable": False}
