"""Sandbox overhead: start to first action, and steps/s after start, per backend.

    .venv/bin/python bench/sandbox.py [--steps 20000] [--backends docker,process,local]

A do-nothing policy, so the numbers are the sandbox's own cost: start = handle creation to
the first action (container start, agent start, init, history); steps/s = act() round trips
after that, each with a real observation row of the bundled data. The docker backend needs
the base image (make base-image); its image build is done first and not timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from battery_sim.data import load_market_csv  # noqa: E402
from battery_sim.observation import Observation  # noqa: E402
from tasks.sandbox import SandboxLimits, docker_ready, team_policy_factory  # noqa: E402

POLICY = '''
from policies.policy import Policy

class Idle(Policy):
    def act(self, external_state, internal_state):
        return 0.0, 0.0
'''
BASE = '''
class Policy:
    def __init__(self, **kwargs):
        pass
    def load_historical(self, external_states):
        pass
'''


def write_team(folder: Path) -> Path:
    bot = folder / "bot"
    (bot / "policies").mkdir(parents=True)
    (bot / "policies" / "__init__.py").write_text("")
    (bot / "policies" / "policy.py").write_text(BASE)
    (bot / "policies" / "idle.py").write_text(POLICY)
    (bot / "config.json").write_text(json.dumps({"policy": {"class_name": "Idle", "parameters": {}}}))
    return folder


def run(backend: str, team: Path, steps: int, repeats: int) -> dict:
    data = load_market_csv(ROOT / "data" / "april15-may7_2023.csv")
    columns = data.columns
    lo = 2016
    history = data.history(lo)
    factory = team_policy_factory(team, backend=backend, limits=SandboxLimits.from_settings(), team_id=199)
    starts, rates = [], []
    for _ in range(repeats):
        began = time.perf_counter()
        handle = factory()
        try:
            handle.load_historical(history)
            state = {"total_profit": 0.0, "profit_delta": 0.0, "battery_soc": 7.5, "max_charge_rate": 5.0,
                     "remaining_steps": steps}
            handle.act(Observation(columns, lo), state)
            starts.append(time.perf_counter() - began)
            n = len(data) - lo - 1
            t0 = time.perf_counter()
            for k in range(steps):
                handle.act(Observation(columns, lo + 1 + k % n), state)
            rates.append(steps / (time.perf_counter() - t0))
        finally:
            if hasattr(handle, "close"):
                handle.close()
    return {"backend": backend, "start_to_first_action_s": round(statistics.median(starts), 3),
            "steps_per_s": round(statistics.median(rates)), "us_per_step": round(1e6 / statistics.median(rates), 1),
            "repeats": repeats, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="docker,process,local")
    args = parser.parse_args()
    backends = args.backends.split(",")
    if "docker" in backends and (why := docker_ready()):
        print(f"skipping docker: {why}", file=sys.stderr)
        backends.remove("docker")
    with tempfile.TemporaryDirectory() as tmp:
        team = write_team(Path(tmp))
        for backend in backends:
            print(json.dumps(run(backend, team, args.steps, args.repeats)))


if __name__ == "__main__":
    main()
