"""In-process throughput of the trusted simulator: the baseline policy over the 6335-row
April file, best of several runs. Last line: steps_per_second=N."""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from battery_sim.data import load_market_csv  # noqa: E402
from battery_sim.evaluator import evaluate  # noqa: E402
from battery_sim.policies import MovingAveragePolicy  # noqa: E402
from battery_sim.rules import get_ruleset  # noqa: E402


def main(repeats: int = 7) -> None:
    data = load_market_csv(ROOT / "data" / "april15-may7_2023.csv")
    for rules in ("gbh2024", "gbh2024-tariff"):
        best = float("inf")
        for _ in range(repeats):
            began = time.perf_counter()
            result = evaluate(data, get_ruleset(rules), MovingAveragePolicy)
            best = min(best, time.perf_counter() - began)
        print(f"{rules}: {result['steps']} steps, best of {repeats}: {best * 1000:.1f} ms "
              f"({result['steps'] / best:,.0f} steps/s), score {result['score']:.4f}")
    print(f"steps_per_second={result['steps'] / best:.0f}")


if __name__ == "__main__":
    main()
