"""Incremental live runs equal full replays (tasks/live.py), in-process (the `local` backend):
every example and built-in policy, a seeded random one, and one reading remaining_steps, advanced
1, 7 and 50 intervals at a time; and the fallbacks: an unpicklable policy, a revised price, a
crash at interval N of an advance, a lost checkpoint."""

from __future__ import annotations

import dataclasses

import pytest
from teams import example, mixed_team

from battery_sim.data import from_frame
from battery_sim.evaluator import evaluate
from battery_sim.policies import BUILTIN_POLICIES
from tasks import live
from tasks.sandbox import team_policy_factory
from tasks.store.objects import LocalObjects

EXAMPLE_NAMES = ("night-owl", "sunrise-solar", "trend-rider", "broken-bot")
COMPARED = ("profits", "socs", "actions", "solar_actions", "executed_actions", "executed_solar_actions",
            "market_prices", "timestamps", "final_soc", "rundown_profit_deltas")


def replay(data, rules, factory, lo, hi, horizon=None, seed=42):
    return evaluate(data, rules, factory, start=int(data.interval_end[lo]), end=int(data.interval_end[hi - 1]),
                    seed=seed, horizon=horizon)


def advance_in_steps(objects, run, data, rules, factory, lo, hi, step, horizon=None, first=None):
    """The live run advanced as rounds would: the first `first` (default `step`) intervals, then
    `step` more each time, up to row hi. Returns every advance's (result, notes)."""
    ends = list(range(lo + (first or step), hi, step)) + [hi]
    return [live.advance(objects, run, data, rules, factory, lo, end, horizon_end=horizon) for end in ends]


def assert_same(incremental, full):
    assert incremental["status"] == full["status"]
    assert incremental["score"] == full["score"]  # exactly: the same floats in the same order
    assert incremental["steps"] == full["steps"]
    for name in COMPARED:
        assert incremental["main_trial"][name] == full["main_trial"][name], name
    assert incremental["error"] == full["error"]


def team_dir(tmp_path, name):
    if name in EXAMPLE_NAMES:
        return example(tmp_path / name, name)
    return mixed_team(tmp_path / name, name)


def local(folder):
    return team_policy_factory(folder, backend="local")


@pytest.mark.parametrize("step", [1, 7, 50])
@pytest.mark.parametrize("name", [*EXAMPLE_NAMES, *BUILTIN_POLICIES, "SeededRandom"])
def test_incremental_equals_replay_open_end(tmp_path, market, rules, window, name, step):
    lo, hi = window
    if step == 1:
        hi = lo + 300  # 300 advances of one interval: enough to cross the failing example's interval 200
    factory = local(team_dir(tmp_path, name))
    objects = LocalObjects(tmp_path / "objects")
    run = live.LiveRun(1, "c0ffee", rules.name, int(market.interval_end[lo]), 42)
    advances = advance_in_steps(objects, run, market, rules, factory, lo, hi, step)
    result, notes = advances[-1]
    assert_same(result, replay(market, rules, factory, lo, hi))
    assert notes == []
    if result["status"] == "success":
        kept = live.checkpoint_ends(objects, run)
        assert len(kept) == min(live.KEEP, len(advances)) and kept[-1] == int(market.interval_end[hi - 1])


@pytest.mark.parametrize("step", [1, 7, 50])
@pytest.mark.parametrize("name", ["Countdown", "SeededRandom", "night-owl", "MovingAveragePolicy"])
def test_incremental_equals_replay_declared_end(tmp_path, market, rules, window, name, step):
    """With the competition's end declared, remaining_steps counts to it in both: every policy,
    one reading remaining_steps too, gives the replay's score exactly."""
    lo, hi = window
    if step == 1:
        hi = lo + 120
    horizon = int(market.interval_end[lo + 400])  # the declared end, beyond the data known so far
    factory = local(team_dir(tmp_path, name))
    objects = LocalObjects(tmp_path / "objects")
    run = live.LiveRun(1, "c0ffee", rules.name, int(market.interval_end[lo]), 42)
    result, _ = advance_in_steps(objects, run, market, rules, factory, lo, hi, step, horizon=horizon)[-1]
    assert_same(result, replay(market, rules, factory, lo, hi, horizon=horizon))


def test_countdown_reads_remaining_steps(tmp_path, market, rules, window):
    """The Countdown policy does depend on the horizon (so the test above can fail)."""
    lo, hi = window
    factory = local(team_dir(tmp_path, "Countdown"))
    assert replay(market, rules, factory, lo, hi)["score"] != replay(
        market, rules, factory, lo, hi, horizon=int(market.interval_end[lo + 400]))["score"]


def test_seeded_random_continues_the_seed_stream(tmp_path, market, rules, window):
    """Another seed gives another score: the equality above is the seed stream carried over."""
    lo, hi = window
    factory = local(team_dir(tmp_path, "SeededRandom"))
    assert replay(market, rules, factory, lo, hi, seed=42)["score"] != replay(market, rules, factory, lo, hi,
                                                                                seed=7)["score"]
    objects = LocalObjects(tmp_path / "objects")
    run = live.LiveRun(1, "c0ffee", rules.name, int(market.interval_end[lo]), 7)
    ends = [lo + 10, lo + 11, hi]
    result = [live.advance(objects, run, market, rules, factory, lo, end) for end in ends][-1][0]
    assert_same(result, replay(market, rules, factory, lo, hi, seed=7))


def test_an_advance_runs_only_the_new_intervals(tmp_path, market, rules, window):
    lo, hi = window
    folder = mixed_team(tmp_path / "t", "CrashAt", {"at": 10**9})
    factory = local(folder)
    objects = LocalObjects(tmp_path / "objects")
    run = live.LiveRun(1, "c0ffee", rules.name, int(market.interval_end[lo]), 42)
    live.advance(objects, run, market, rules, factory, lo, hi - 12)
    restored = []
    original = type(factory(None)).restore

    def counting(self, blob):
        original(self, blob)
        restored.append(self.policy.seen)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(factory(None)), "restore", counting)
        result, notes = live.advance(objects, run, market, rules, factory, lo, hi)
    assert restored == [hi - 12 - lo]  # the policy came back having seen the first part, once
    assert result["steps"] == hi - lo and notes == []


def test_unpicklable_policy_falls_back_with_a_note(tmp_path, market, rules, window):
    lo, hi = window
    factory = local(mixed_team(tmp_path / "t", "Unpicklable"))
    objects = LocalObjects(tmp_path / "objects")
    run = live.LiveRun(1, "c0ffee", rules.name, int(market.interval_end[lo]), 42)
    advances = advance_in_steps(objects, run, market, rules, factory, lo, hi, 100)
    for result, notes in advances:
        assert result["status"] == "success"
        assert len(notes) == 1 and "could not be kept between rounds" in notes[0] and "pickle" in notes[0]
        assert "replays the whole window" in notes[0]
    assert live.checkpoint_ends(objects, run) == []
    assert_same(advances[-1][0], replay(market, rules, factory, lo, hi))


def test_over_the_budget_falls_back_with_a_note(tmp_path, market, rules, window):
    lo, hi = window
    factory = local(team_dir(tmp_path, "night-owl"))
    factory.limits = dataclasses.replace(factory.limits, checkpoint_max_mb=0.0001)
    objects = LocalObjects(tmp_path / "objects")
    run = live.LiveRun(1, "c0ffee", rules.name, int(market.interval_end[lo]), 42)
    result, notes = live.advance(objects, run, market, rules, factory, lo, hi)
    assert result["status"] == "success" and "over the 0.0 MB" in notes[0]


def test_revised_price_replays_from_the_start(tmp_path, market, rules, window):
    lo, hi = window
    factory = local(team_dir(tmp_path, "night-owl"))
    objects = LocalObjects(tmp_path / "objects")
    run = live.LiveRun(1, "c0ffee", rules.name, int(market.interval_end[lo]), 42)
    live.advance(objects, run, market, rules, factory, lo, hi - 20)
    frame = market.frame.copy()
    frame.loc[lo + 5, "price"] += 100.0  # a price inside the part already done is revised
    revised = from_frame(frame, "revised")
    logged = []
    result, notes = live.advance(objects, run, revised, rules, factory, lo, hi, log=logged.append)
    assert any("replaying" in line for line in logged)
    assert_same(result, replay(revised, rules, factory, lo, hi))
    assert result["score"] != replay(market, rules, factory, lo, hi)["score"]


def test_crash_at_n_of_an_advance_is_recorded_at_n(tmp_path, market, rules, window):
    lo, hi = window
    at = 250  # inside the third advance of 100
    factory = local(mixed_team(tmp_path / "t", "CrashAt", {"at": at}))
    objects = LocalObjects(tmp_path / "objects")
    run = live.LiveRun(1, "c0ffee", rules.name, int(market.interval_end[lo]), 42)
    advances = advance_in_steps(objects, run, market, rules, factory, lo, hi, 100)
    assert [r["status"] for r, _ in advances] == ["success", "success", "error", "error"]
    result = advances[-1][0]
    assert result["steps"] == at and result["error"].startswith(f"interval {at} (")
    assert "broken on purpose at interval 250" in result["error"]
    assert_same(result, replay(market, rules, factory, lo, hi))
    assert live.checkpoint_ends(objects, run)[-1] == int(market.interval_end[lo + 200 - 1])  # none after the crash


def test_lost_policy_state_replays(tmp_path, market, rules, window):
    lo, hi = window
    factory = local(team_dir(tmp_path, "trend-rider"))
    objects = LocalObjects(tmp_path / "objects")
    run = live.LiveRun(1, "c0ffee", rules.name, int(market.interval_end[lo]), 42)
    live.advance(objects, run, market, rules, factory, lo, hi - 30)
    state = objects.get_json(run.name(live.checkpoint_ends(objects, run)[-1]))
    objects.delete(state["blob"])
    result, notes = live.advance(objects, run, market, rules, factory, lo, hi)
    assert_same(result, replay(market, rules, factory, lo, hi))


def test_restore_failure_replays_with_a_note(tmp_path, market, rules, window):
    lo, hi = window
    folder = team_dir(tmp_path, "SeededRandom")
    factory = local(folder)
    objects = LocalObjects(tmp_path / "objects")
    run = live.LiveRun(1, "c0ffee", rules.name, int(market.interval_end[lo]), 42)
    live.advance(objects, run, market, rules, factory, lo, hi - 30)
    state = objects.get_json(run.name(live.checkpoint_ends(objects, run)[-1]))
    objects.put_bytes(state["blob"], b"not a pickle")
    result, notes = live.advance(objects, run, market, rules, factory, lo, hi)
    assert len(notes) == 1 and "could not be restored" in notes[0]
    assert_same(result, replay(market, rules, factory, lo, hi))


def test_other_runs_checkpoints_are_not_used(tmp_path, market, rules, window):
    """A checkpoint is for one team, commit, window start, rules and seed."""
    lo, hi = window
    factory = local(team_dir(tmp_path, "night-owl"))
    objects = LocalObjects(tmp_path / "objects")
    start = int(market.interval_end[lo])
    live.advance(objects, live.LiveRun(1, "c0ffee", rules.name, start, 42), market, rules, factory, lo, hi - 30)
    for other in (live.LiveRun(2, "c0ffee", rules.name, start, 42), live.LiveRun(1, "beef", rules.name, start, 42),
                  live.LiveRun(1, "c0ffee", "gbh2024", start, 42), live.LiveRun(1, "c0ffee", rules.name, start, 1)):
        assert live.newest_checkpoint(objects, other, int(market.interval_end[hi - 1])) is None


def test_platform_failure_mid_advance_leaves_the_checkpoint_and_the_retry_counts_once(tmp_path, market, rules,
                                                                                      window):
    """arena's own failure (the engine gone) half-way through an advance raises, as the flow's
    retries need; the previous checkpoint stands and the retry gives the replay's score."""
    from tasks.sandbox import SandboxUnavailable

    lo, hi = window
    factory = local(team_dir(tmp_path, "night-owl"))
    objects = LocalObjects(tmp_path / "objects")
    run = live.LiveRun(1, "c0ffee", rules.name, int(market.interval_end[lo]), 42)
    live.advance(objects, run, market, rules, factory, lo, hi - 40)
    before = live.checkpoint_ends(objects, run)

    def failing(seed=None):
        handle = factory(seed)
        act, calls = handle.act, []

        def act_then_fail(obs, state):
            calls.append(1)
            if len(calls) == 20:
                raise SandboxUnavailable("the Docker engine stopped answering")
            return act(obs, state)
        handle.act = act_then_fail
        return handle

    with pytest.raises(SandboxUnavailable):
        live.advance(objects, run, market, rules, failing, lo, hi)
    assert live.checkpoint_ends(objects, run) == before
    result, notes = live.advance(objects, run, market, rules, factory, lo, hi)  # the retry
    assert_same(result, replay(market, rules, factory, lo, hi))
    assert notes == []
