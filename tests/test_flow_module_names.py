"""A deployment run started by a worker puts the entrypoint's folder (flows/) first on sys.path,
so a module there named like one of arena's packages or a standard-library module shadows it
in that run (flows/leaderboard.py once hid the leaderboard/ package)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_flow_module_shadows_a_package_or_the_standard_library():
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    clashes = sorted(path.stem for path in (ROOT / "flows").glob("*.py")
                     if path.stem in packages or path.stem in sys.stdlib_module_names)
    assert clashes == []
