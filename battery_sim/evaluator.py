"""The trusted evaluator: drives a policy through a window of market data and scores it.

Description
    One run ("trial") gives the policy every row before the window (`load_historical`), then
    one interval at a time: the policy sees the row and the battery's state and answers with
    an action; the physics (battery_sim.physics) turns the action into charge and money.
Action
    `(solar_kW_to_battery, grid_kW)`: two finite numbers.
Observation
    `external_state`: the row as an Observation (Series-like); `internal_state`: a dict with
    total_profit, profit_delta, battery_soc, max_charge_rate, remaining_steps.
Rewards
    Money of each leg, rounded to 4 decimals, after the ruleset's tariff.
Episode end
    After the window the battery is run down at full power at the mean price of the window's
    last 288 intervals; score = cumulative profit + run-down money.
Arguments
    The market data, the ruleset, a policy factory (fresh policy per trial), the window, and
    `trials`/`seed` for extra seeded random sub-windows of at least one day.
Version history
    gbh2024 / gbh2024-tariff reproduce the 2024 evaluator to 1e-6.
"""

from __future__ import annotations

import math
import numbers
import random
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from battery_sim.data import MarketData, iso
from battery_sim.errors import BadInput, PlatformFailure, PolicyError
from battery_sim.observation import Observation
from battery_sim.physics import rundown, step
from battery_sim.policy import PolicyFactory
from battery_sim.rules import INTERVAL_S, INTERVALS_PER_DAY, Ruleset

Progress = Callable[[int, int], None]
MIN_TRIAL_INTERVALS = INTERVALS_PER_DAY
_PLAIN = (float, int)


class _Failed(Exception):
    """A run ended by the team's code: where, what, and the team's traceback."""

    def __init__(self, where: str, exc: BaseException | str):
        if isinstance(exc, PolicyError):
            message, tb = str(exc), exc.traceback_text
        elif isinstance(exc, BaseException):
            message = f"{type(exc).__name__}: {exc}"
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        else:
            message, tb = exc, None
        super().__init__(f"{where}: {message}")
        self.traceback_text = tb


def _reraise_platform(exc: Exception) -> None:
    """arena's own failures (no Docker engine, a missing image) are not the team's: let them out."""
    if isinstance(exc, PlatformFailure):
        raise exc


def _shown(value: Any) -> str:
    """A team's value as a short text: a 4001-digit integer is not printed whole (nor can be)."""
    if isinstance(value, int) and abs(value) > 10**30:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(value: Any, name: str, bound: float) -> float:
    if isinstance(value, numbers.Real) and not isinstance(value, str):
        try:
            number = float(value)
        except (OverflowError, ValueError):
            number = math.inf
        if -bound <= number <= bound:
            return number
    raise ValueError(f"{name} is {_shown(value)}; it must be a finite number of kW within ±{bound:g}")


def _action(value: Any, bound: float) -> tuple[float, float]:
    try:
        solar, grid = value
    except (TypeError, ValueError):
        raise ValueError(
            f"act() returned {_shown(value)}; it must return two numbers (solar_kW_to_battery, grid_kW)"
        ) from None
    # Fast path for plain numbers in range (NaN fails every comparison); the rest is checked whole.
    if type(solar) not in _PLAIN or not -bound <= solar <= bound:
        solar = _number(solar, "solar_kW_to_battery", bound)
    if type(grid) not in _PLAIN or not -bound <= grid <= bound:
        grid = _number(grid, "grid_kW", bound)
    return float(solar), float(grid)


def run_trial(
    data: MarketData,
    lo: int,
    hi: int,
    factory: PolicyFactory,
    rules: Ruleset,
    *,
    seed: int | None = None,
    initial_profit: float = 0.0,
    progress: Progress | None = None,
    horizon: int | None = None,
    resume: dict[str, Any] | None = None,
    snapshot: bool = False,
) -> dict[str, Any]:
    """One run over rows [lo, hi). Returns the main_trial fields plus status, score, error, and
    `sim_state` (what a later run needs to continue this one: see `resume`).

    horizon: the interval end (epoch) the run counts toward, for `remaining_steps` (default: the
    last row of the window), so a live run advanced in pieces counts to the competition's end.
    resume: the `sim_state` and main_trial lists of an earlier run over [lo, lo + done); the
    run continues at row lo + done with a handle the factory returns already restored (no seeding,
    no load_historical). snapshot: after a successful run, ask the handle for `checkpoint()`
    (its saved state, opaque bytes) before closing it."""
    prices, pv, hours = data.prices, data.pv_power, data.nem_hours
    columns = data.columns
    soc = rules.initial_charge_kwh
    total = initial_profit
    max_rate = rules.max_power_kw
    bound = rules.max_action_kw
    n = hi - lo if horizon is None else max(hi - lo, (horizon - int(data.interval_end[lo])) // INTERVAL_S + 1)
    profits: list[float] = []
    socs: list[float] = []
    actions: list[float] = []
    solar_actions: list[float] = []
    # What the battery did with them (kW after its power and capacity limits), for the charts.
    executed: list[float] = []
    executed_solar: list[float] = []
    failure: _Failed | None = None
    handle = None
    first, delta = lo, 0
    if resume is not None:
        first, soc, total, delta = lo + resume["done"], resume["soc"], resume["total"], resume["delta"]
        profits, socs = list(resume["profits"]), list(resume["socs"])
        actions, solar_actions = list(resume["actions"]), list(resume["solar_actions"])
        executed, executed_solar = list(resume["executed_actions"]), list(resume["executed_solar_actions"])
    snapshot_blob: bytes | None = None
    snapshot_error: str | None = None
    try:
        if seed is not None and resume is None:
            random.seed(seed)
            np.random.seed(seed)
        try:
            handle = factory()
        except Exception as exc:
            _reraise_platform(exc)
            raise _Failed("while creating the policy", exc) from None
        if resume is None:
            try:
                handle.load_historical(data.history(lo))
            except Exception as exc:
                _reraise_platform(exc)
                raise _Failed("in load_historical, before the first interval", exc) from None

        act = handle.act
        # What the loop's last step left (the 2024 loop shows remaining_steps n - 1 twice, first).
        internal = {"total_profit": total, "profit_delta": delta, "battery_soc": soc,
                    "max_charge_rate": max_rate, "remaining_steps": n - max(1, first - lo)}
        for i in range(first, hi):
            try:
                solar, grid = _action(act(Observation(columns, i), internal), bound)
            except Exception as exc:
                _reraise_platform(exc)
                raise _Failed(f"interval {i - lo} ({columns['timestamp'][i]})", exc) from None
            s = step(soc, solar, grid, pv[i], prices[i], hours[i], rules)
            soc = s.soc_kwh
            delta = s.grid_money + s.solar_money
            total += delta
            profits.append(total)
            socs.append(soc)
            actions.append(grid)
            solar_actions.append(solar)
            executed.append(round(s.grid_kwh / rules.hours_per_interval, 6))  # kWh back to kW, float noise off
            executed_solar.append(round(s.solar_stored_kwh / rules.hours_per_interval, 6))
            internal = {"total_profit": total, "profit_delta": delta, "battery_soc": soc,
                        "max_charge_rate": max_rate, "remaining_steps": n - (i - lo) - 1}
            if progress is not None and not (i - lo) & 1023:
                progress(i - lo, n)
        if snapshot and handle is not None:
            snapshot_blob, snapshot_error = _checkpoint(handle)
    except _Failed as exc:
        failure = exc
    finally:
        logs_tail = _close(handle)
    ran = len(profits)
    trial: dict[str, Any] = {
        "profits": profits,
        "socs": socs,
        "market_prices": prices[lo : lo + ran],
        "actions": actions,
        "solar_actions": solar_actions,
        "executed_actions": executed,
        "executed_solar_actions": executed_solar,
        "pv_inputs": pv[lo : lo + ran],
        "timestamps": data.interval_end[lo : lo + ran].tolist(),
        "final_soc": socs[-1] if socs else rules.initial_charge_kwh,
        "rundown_profit_deltas": [],
        "window": {"start": int(data.interval_end[lo]), "end": int(data.interval_end[hi - 1])},
    }
    if failure is None:
        price = np.mean(trial["market_prices"][-rules.rundown_price_intervals :])
        trial["rundown_profit_deltas"] = rundown(soc, price, rules)
        trial["score"] = float(profits[-1] + np.sum(trial["rundown_profit_deltas"]))
        trial.update(status="success", error=None, error_traceback=None)
    else:
        trial.update(status="error", score=None, error=str(failure), error_traceback=failure.traceback_text)
    trial["logs_tail"] = logs_tail
    trial["sim_state"] = {"done": ran, "soc": soc, "total": total, "delta": delta if ran else 0}
    trial["snapshot"], trial["snapshot_error"] = snapshot_blob, snapshot_error
    if progress is not None:
        progress(n, n)
    return trial


def _checkpoint(handle: Any) -> tuple[bytes | None, str | None]:
    """(the handle's saved state, or None and why not). A state that cannot be kept is no
    failure of the run: the next live advance replays the window instead."""
    keep = getattr(handle, "checkpoint", None)
    if keep is None:
        return None, "this sandbox cannot save a policy's state"
    try:
        return keep(), None
    except Exception as exc:
        _reraise_platform(exc)
        return None, str(exc)


def _close(handle: Any) -> str | None:
    if handle is None:
        return None
    tail = None
    try:
        if hasattr(handle, "logs_tail"):
            tail = handle.logs_tail()
    finally:
        if hasattr(handle, "close"):
            handle.close()
    return tail


def trial_windows(lo: int, hi: int, trials: int, seed: int) -> list[tuple[int, int]]:
    """The main window first, then trials-1 seeded random sub-windows of at least one day."""
    windows = [(lo, hi)]
    n = hi - lo
    if trials > 1 and n < MIN_TRIAL_INTERVALS:
        raise BadInput(f"--trials needs a window of at least {MIN_TRIAL_INTERVALS} intervals (one day); this one has {n}")
    rng = random.Random(seed)
    for _ in range(trials - 1):
        length = rng.randint(MIN_TRIAL_INTERVALS, n)
        start = lo + rng.randint(0, n - length)
        windows.append((start, start + length))
    return windows


def evaluate(
    data: MarketData,
    rules: Ruleset,
    factory: PolicyFactory,
    *,
    start: int | None = None,
    end: int | None = None,
    trials: int = 1,
    seed: int = 42,
    class_name: str = "",
    parameters: dict[str, Any] | None = None,
    progress: Progress | None = None,
    horizon: int | None = None,
    resume: dict[str, Any] | None = None,
    snapshot: bool = False,
) -> dict[str, Any]:
    """Evaluate one policy over one window (plus trials); the 2024 Submission Schema.
    `horizon`, `resume`, `snapshot`: see run_trial (a live advance; one trial only)."""
    if trials < 1:
        raise BadInput("--trials must be at least 1")
    if trials > 1 and (resume is not None or snapshot):
        raise BadInput("a live run that continues an earlier one has one trial")
    began = time.perf_counter()
    lo, hi = data.window(start, end)
    runs = []
    for k, (a, b) in enumerate(trial_windows(lo, hi, trials, seed)):
        run = run_trial(data, a, b, factory, rules, seed=seed, progress=progress if k == 0 else None,
                        horizon=horizon if k == 0 else None, resume=resume, snapshot=snapshot)
        runs.append(run)
        if run["status"] != "success":
            break  # the team's code failed; further trials would only repeat it
    main = runs[0]
    failed = next((r for r in runs if r["status"] != "success"), None)
    error = failed["error"] if failed else None
    if failed is not None and failed is not main:
        error = f"trial {runs.index(failed)} ({iso(failed['window']['start'])} to {iso(failed['window']['end'])}), {error}"
    main_fields = ("profits", "socs", "market_prices", "timestamps", "actions", "solar_actions",
                   "executed_actions", "executed_solar_actions", "pv_inputs", "final_soc", "rundown_profit_deltas")
    result: dict[str, Any] = {
        "class_name": class_name,
        "parameters": parameters or {},
        "rules": rules.name,
        "window": {"start": int(data.interval_end[lo]), "end": int(data.interval_end[hi - 1])},
        "status": "error" if failed else "success",
        "score": main["score"] if failed is None else None,
        "steps": len(main["profits"]),
        "num_runs": len(runs),
        "main_trial_idx": 0,
        "main_trial": {k: main[k] for k in main_fields},
        "error": error,
        "error_traceback": failed["error_traceback"] if failed else None,
        "logs_tail": (failed or main)["logs_tail"],
        "seconds_elapsed": time.perf_counter() - began,
        "sim_state": main["sim_state"],
    }
    if snapshot:  # bytes: only for the caller that asked (a result is otherwise plain JSON)
        result.update(snapshot=main["snapshot"], snapshot_error=main["snapshot_error"])
    if trials > 1:
        scores = [r["score"] for r in runs if r["score"] is not None]
        result["trials"] = {
            "runs": [{**{k: r[k] for k in main_fields}, "window": r["window"], "score": r["score"],
                      "status": r["status"]} for r in runs],
            "mean": float(np.mean(scores)) if failed is None else None,
            "std": float(np.std(scores)) if failed is None else None,
            "worst": float(min(scores)) if failed is None else None,
        }
    return result
