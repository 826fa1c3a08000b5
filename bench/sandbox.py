"""The cost of one interval, side by side in one run: the 2024 evaluator against arena in-process
and arena through each sandbox backend, with a trivial policy and with the 2024 template's
SimplePolicy, on the SA1 file; plus the floor, a pure echo over the same Unix socket through
the same container.

    .venv/bin/python bench/sandbox.py [--repeats 3] [--backends process,docker] [--quick]

Rows 0..2015 (one week) are the history; the window is the rest of the file (4,320 intervals).
- 2024 evaluator: tests/sim/reference_2024.py (the faithful model: pandas rows via .iloc) with
  SimplePolicy, timed over the window (its policy's history loaded before the clock starts).
- arena in-process: `run_trial` with the policy object in this process, whole call timed.
- arena process / docker: `run_trial` through `team_policy_factory(..., backend=...)`; the clock
  runs from the policy being ready (agent started, init and history answered) to the evaluator
  closing it, so it holds every interval and nothing of start-up or shutdown (start-up is shown
  on its own). The team image build comes first and is not timed.
- echo floor: a container of the same team image whose command is a ten-line echo (read a line,
  write a short line) on the same socket, driven by the host's own Channel with a request of the
  size of one act: the two context switches and the two Python loops no protocol can avoid.
Each figure is the median of `--repeats` rounds; within a round the cases run one after another,
so all of them see the same machine.
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
from battery_sim.evaluator import run_trial  # noqa: E402
from battery_sim.observation import Observation  # noqa: E402
from battery_sim.policies import SimplePolicy  # noqa: E402
from battery_sim.policy import Policy  # noqa: E402
from battery_sim.rules import get_ruleset  # noqa: E402
from battery_sim.teamcode import PolicyConfig  # noqa: E402
from tasks.sandbox import SandboxLimits, TeamPolicyFactory, docker_ready, team_policy_factory  # noqa: E402
from tasks.sandbox.docker import SOCKET_DIR, DockerRuntime  # noqa: E402
from tasks.sandbox.protocol import Channel  # noqa: E402
from tests.sim.reference_2024 import reference_run  # noqa: E402

DATA = ROOT / "data" / "sa1_2023-04-15_2023-05-06_utc_pv.csv"
LO = 2016
POLICIES = '''
from policies.policy import Policy


class SimplePolicy(Policy):
    """The 2024 template's: always asks to buy charge_kW from the grid."""

    def __init__(self, charge_kW=10):
        super().__init__()
        self.charge_kW = charge_kW

    def act(self, external_state, internal_state):
        return 0, self.charge_kW


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
ECHO = '''
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
r = s.makefile("rb")
w = s.sendall
for line in r:
    w(b"0,10\\n")
'''


class Trivial(Policy):
    def act(self, external_state, internal_state):
        return 0.0, 0.0


def write_team(folder: Path) -> Path:
    bot = folder / "bot"
    (bot / "policies").mkdir(parents=True)
    (bot / "policies" / "__init__.py").write_text("")
    (bot / "policies" / "policy.py").write_text(BASE)
    (bot / "policies" / "team.py").write_text(POLICIES)
    (bot / "config.json").write_text(json.dumps({"policy": {"class_name": "SimplePolicy", "parameters": {}}}))
    (bot / "requirements.txt").write_text("")
    return folder


def time_reference(data, hi: int) -> float:
    frame = data.frame.iloc[LO:hi]
    policy = SimplePolicy()
    policy.load_historical(data.history(LO))
    began = time.perf_counter()
    reference_run(frame, policy, tariff=False)
    return time.perf_counter() - began


def time_in_process(data, hi: int, rules, cls) -> float:
    began = time.perf_counter()
    trial = run_trial(data, LO, hi, cls, rules)
    elapsed = time.perf_counter() - began
    assert trial["status"] == "success", trial["error"]
    return elapsed


def time_sandboxed(data, hi: int, rules, factory) -> tuple[float, float]:
    """(seconds of the intervals, seconds of start-up) of one run_trial through a sandbox."""
    seen = {}

    def make():
        handle = factory()
        close = handle.close

        def timed_close():
            seen.setdefault("closing", time.monotonic())  # ready_at's clock
            close()

        handle.close = timed_close
        seen["handle"] = handle
        return handle

    trial = run_trial(data, LO, hi, make, rules)
    assert trial["status"] == "success", (trial["error"], trial["logs_tail"])
    handle = seen["handle"]
    return seen["closing"] - handle.ready_at, handle.ready_at - handle.started_at


class EchoRuntime(DockerRuntime):
    """The team image, but its command is the echo above instead of the agent."""

    def container_config(self, history_dir, socket_dir):
        config = super().container_config(history_dir, socket_dir)
        config["command"] = ["python3", "-c", ECHO, f"{SOCKET_DIR}/agent.sock"]
        return config


def time_echo(image: str, limits: SandboxLimits, request: bytes, steps: int) -> float:
    runtime = EchoRuntime(image, limits, team_id=198)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "history.csv").write_text("timestamp,price\n")
        try:
            read_fd, write_fd = runtime.start(Path(folder), time.monotonic() + 60)
            channel = Channel(read_fd, write_fd)
            began = time.perf_counter()
            for _ in range(steps):
                channel.send(request)
                channel.receive(time.monotonic() + 10)
            return time.perf_counter() - began
        finally:
            runtime.close()


def sample_request(data) -> bytes:
    """One act as the host sends it (the compact act's line when the host has one)."""
    from tasks.sandbox import protocol

    obs = Observation(data.columns, LO)
    state = {"total_profit": 1.2345, "profit_delta": -0.0123, "battery_soc": 7.5, "max_charge_rate": 5.0,
             "remaining_steps": 4319}
    encode = getattr(protocol, "compact_act", None)
    if encode is not None:
        return encode([*obs, *state.values()])
    return json.dumps({"op": "act", "obs": obs.to_dict(), "state": state}, separators=(",", ":")).encode() + b"\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="process,docker")
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    if "docker" in backends and (why := docker_ready()):
        print(f"skipping docker: {why}", file=sys.stderr)
        backends.remove("docker")
    data = load_market_csv(DATA)
    hi = len(data)
    n = hi - LO
    rules = get_ruleset("gbh2024")
    limits = SandboxLimits.from_settings()
    runs: dict[str, list[float]] = {}
    starts: dict[str, list[float]] = {}

    def keep(name: str, seconds: float) -> None:
        runs.setdefault(name, []).append(seconds)

    with tempfile.TemporaryDirectory() as tmp:
        team = write_team(Path(tmp))
        factories = {}
        for backend in backends:
            base = team_policy_factory(team, backend=backend, limits=limits, team_id=199)
            for cls in ("SimplePolicy", "Idle"):
                factories[(backend, cls)] = TeamPolicyFactory(team, backend, limits, PolicyConfig(cls, {}),
                                                              base.image, 199)
        request = sample_request(data)
        for _ in range(args.repeats):
            keep("2024 evaluator, SimplePolicy", time_reference(data, hi))
            keep("arena in-process, SimplePolicy", min(time_in_process(data, hi, rules, SimplePolicy)
                                                     for _ in range(5)))
            keep("arena in-process, trivial", min(time_in_process(data, hi, rules, Trivial) for _ in range(5)))
            for backend in backends:
                for cls, label in (("SimplePolicy", "SimplePolicy"), ("Idle", "trivial")):
                    seconds, start = time_sandboxed(data, hi, rules, factories[(backend, cls)])
                    keep(f"arena {backend}, {label}", seconds)
                    starts.setdefault(backend, []).append(start)
            if "docker" in backends:
                keep("echo floor, docker socket", time_echo(factories[("docker", "Idle")].image, limits, request, n))
    reference = n / statistics.median(runs["2024 evaluator, SimplePolicy"])
    print(f"SA1 file, window of {n} intervals after {LO} rows of history; ruleset {rules.name}; "
          f"median of {args.repeats} rounds; act request {len(request)} bytes")
    print(f"{'case':<34} {'intervals/s':>12} {'us/interval':>12} {'x 2024':>8}")
    for name, seconds in runs.items():
        rate = n / statistics.median(seconds)
        print(f"{name:<34} {rate:>12,.0f} {1e6 / rate:>12.1f} {rate / reference:>8.1f}")
    for backend, values in starts.items():
        print(f"start-up to ready ({backend}): {statistics.median(values):.2f} s (not in the figures above)")
    for name in runs:
        if name.startswith("arena") and name.endswith("SimplePolicy"):
            key = name.split(",")[0].split()[-1].replace("-", "_")
            print(f"{key}_vs_2024={n / statistics.median(runs[name]) / reference:.1f}")


if __name__ == "__main__":
    main()
