"""Scale-out, shown: bench/scale_out.py starts a Prefect server, the process work pool from
prefect.yaml and two `prefect worker` processes, runs one round's per-team evaluations as
deployment runs, and fails unless both workers took some and the leaderboard equals the
one-process round. Run here as a whole, as an organiser would run it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.prefect
def test_two_workers_share_a_round_and_agree_with_one_process():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ARENA_"))}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "scale_out.py")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    found = re.search(r"^scale_out=ok workers=(\d+)\+(\d+) teams=4 ", proc.stdout, re.M)
    assert found, proc.stdout[-4000:]
    assert int(found.group(1)) >= 1 and int(found.group(2)) >= 1
