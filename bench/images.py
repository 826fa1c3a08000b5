"""Team image builds: first build, code-only commit, another team with the same requirements, and
a dependency rebuild from the warm wheel cache; image sizes; and for the code-only commit the
whole way from build start to a scored day (build + sandbox start + a one-day evaluation).

    .venv/bin/python bench/images.py [--torch] [--cases none,template]

Cases: `none` (nothing beyond the base image), `template` (the 2024 template's requirements,
`flask==3.0.` with its trailing dot, plus numpy and pandas), `torch` (`--torch`: downloads about
3 GB once; the policy imports torch and runs a matrix product per interval). Every build uses a
fresh wheel cache in a temporary folder and a run label of its own; everything made is removed
at the end. Needs Docker and the base image (make base-image) and, but for `none`, the index.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASE = '''
class Policy:
    def __init__(self, **kwargs):
        pass
    def load_historical(self, external_states):
        pass
'''
POLICIES = {
    "none": ("import numpy\n", "0.0"),
    "template": ("import flask, pandas\n", "0.0"),
    "torch": ("import torch\n", "float(torch.ones(2) @ torch.zeros(2))"),
}
REQUIREMENTS = {"none": "numpy\npandas\n", "template": "flask==3.0.\nnumpy\npandas\n", "torch": "torch\nnumpy\n"}


def write_team(folder: Path, case: str, version: int) -> Path:
    imports, charge = POLICIES[case]
    bot = folder / "bot"
    (bot / "policies").mkdir(parents=True, exist_ok=True)
    (bot / "policies" / "__init__.py").write_text("")
    (bot / "policies" / "policy.py").write_text(BASE)
    (bot / "policies" / "bench.py").write_text(
        f"{imports}from policies.policy import Policy\n\n# commit {version}\nclass Bench(Policy):\n"
        f"    def act(self, external_state, internal_state):\n        return 0.0, {charge}\n")
    (bot / "config.json").write_text(json.dumps({"policy": {"class_name": "Bench", "parameters": {}}}))
    (bot / "requirements.txt").write_text(REQUIREMENTS[case])
    return folder


def _timed(fn, *args, **kwargs):
    start = time.monotonic()
    value = fn(*args, **kwargs)
    return value, time.monotonic() - start


def run_case(case: str, client, workdir: Path, team_id: int) -> dict:
    from battery_sim.data import load_market_csv
    from battery_sim.evaluator import evaluate
    from battery_sim.rules import get_ruleset
    from tasks.sandbox import team_policy_factory
    from tasks.sandbox.deps import USED_BY_LABEL
    from tasks.sandbox.images import ensure_team_image

    team = write_team(workdir / case, case, 1)
    first, t_first = _timed(ensure_team_image, team, team_id=team_id, commit=uuid.uuid4().hex * 2)
    write_team(team, case, 2)  # a code-only commit
    commit = uuid.uuid4().hex * 2
    market = load_market_csv(ROOT / "data" / "april15-may7_2023.csv")
    start = time.monotonic()
    factory = team_policy_factory(team, backend="docker", team_id=team_id, commit=commit)
    t_second = time.monotonic() - start
    day = evaluate(market, get_ruleset("gbh2024-tariff"), factory,
                   start=int(market.interval_end[2016]), end=int(market.interval_end[2016 + 288]))
    t_scored = time.monotonic() - start
    other = write_team(workdir / f"{case}-other", case, 3)  # another team, same requirements
    third, t_other = _timed(ensure_team_image, other, team_id=team_id + 1, commit=uuid.uuid4().hex * 2)
    deps_id = client.images.get(first).labels.get(USED_BY_LABEL) or ""
    sizes = {"team_image_mb": round(client.images.get(factory.image).attrs["Size"] / 1e6),
             "deps_image_mb": round(client.images.get(deps_id).attrs["Size"] / 1e6) if deps_id else None}
    sizes["thin_layer_mb"] = round(sum(h["Size"] for h in client.images.get(factory.image).history()
                                       if h["CreatedBy"].find("COPY --chown=0:0") >= 0) / 1e6, 2)
    t_warm = None
    if deps_id:  # the deps image gone (pruned), the wheels still cached: a rebuild installs, downloads nothing
        for tag in (first, factory.image, third):
            client.images.remove(tag, force=True)
        client.images.remove(deps_id, force=False)
        _, t_warm = _timed(ensure_team_image, team, team_id=team_id, commit=uuid.uuid4().hex * 2)
    return {"case": case, "first_build_s": round(t_first, 1), "code_only_build_s": round(t_second, 1),
            "code_only_to_scored_day_s": round(t_scored, 1), "same_set_other_team_s": round(t_other, 1),
            "deps_rebuild_warm_cache_s": None if t_warm is None else round(t_warm, 1),
            "day_status": day["status"], **sizes}


def cleanup(client, run_label: str) -> None:
    from tasks.sandbox.deps import DEPS_LABEL

    mine = client.images.list(filters={"label": f"arena.run={run_label}"})
    for image in sorted(mine, key=lambda i: (i.labels or {}).get(DEPS_LABEL) == "1"):  # team images first
        try:
            client.images.remove(image.id, force=True)
        except Exception as exc:
            print(f"could not remove {image.tags or image.id}: {exc}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="none,template")
    parser.add_argument("--torch", action="store_true", help="add the torch case (downloads about 3 GB)")
    args = parser.parse_args()
    cases = [c for c in args.cases.split(",") if c] + (["torch"] if args.torch else [])
    run_label = f"bench-images-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="arena-bench-images-") as tmp:
        os.environ["ARENA_SANDBOX_RUN_LABEL"] = run_label
        os.environ["ARENA_SANDBOX_WHEEL_CACHE_DIR"] = str(Path(tmp) / "wheels")
        os.environ.setdefault("ARENA_SANDBOX_STARTUP_TIMEOUT_S", "300")
        from tasks.sandbox import docker_ready
        from tasks.sandbox.docker import docker_client

        why = docker_ready()
        if why:
            sys.exit(f"needs Docker: {why}")
        client = docker_client(timeout=3600)
        print(f"# {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}, "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        try:
            for number, case in enumerate(cases):
                print(json.dumps(run_case(case, client, Path(tmp), 181 + 2 * number)), flush=True)
        finally:
            cleanup(client, run_label)


if __name__ == "__main__":
    main()
