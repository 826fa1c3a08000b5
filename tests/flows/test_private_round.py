"""A round of a competition with held-out windows (issue 19), under the session Prefect harness and
the jailed-process sandbox: each team's counted submission is scored over the public window AND over
the held-out window the data covers, as a private record (the baseline's too); a held-out window the
data does not cover yet is not scored and the round says so; nothing private reaches the round's
table, a task row or the site; a second round repeats nothing; after the reveal the final ranking
is arena/scoring.rank over the private records."""

from __future__ import annotations

import json

from flowkit import DATA_START, WINDOW_END, WINDOW_START

from arena.models import PRIVATE_KEY_MARK
from arena.scoring import rank

HELD_OUT = (DATA_START + 12 * 3600, WINDOW_START - 3600)  # held-out history, covered by the data
LATER = (WINDOW_END + 86400, WINDOW_END + 2 * 86400)  # not ingested: not scored yet


def _strings(records) -> list[str]:
    out = []
    for r in records:
        if r.score is not None:
            out += [repr(r.score), f"{r.score:,.2f}", f"{r.score:.4f}"]
    return out


def test_a_round_scores_public_and_held_out_windows_and_publishes_no_private_number(
        harness, teams, market, env, monkeypatch, caplog):
    monkeypatch.setenv("ARENA_COMPETITION_PRIVATE_WINDOWS", f"{HELD_OUT[0]}..{HELD_OUT[1]},{LATER[0]}..{LATER[1]}")
    from arena.settings import load_settings
    from flows.evaluation import evaluate_round
    from tasks import reveal
    from tasks.publish import publish_site

    state = evaluate_round(return_state=True)
    table = state.result()
    assert sorted(row["team_id"] for row in table) == sorted(teams)
    records = [r for team_id in teams for r in market.list_submissions(team_id)]
    public = [r for r in records if not r.private]
    held = [r for r in records if r.private]
    assert sorted(r.team_id for r in public) == sorted(teams)
    assert sorted((r.team_id, r.git_commit_hash) for r in held) == sorted(teams.items())
    for r in held:
        assert r.key.endswith(PRIVATE_KEY_MARK) and HELD_OUT[0] <= r.window_start <= r.window_end <= HELD_OUT[1]
        assert r.status == "success"  # broken-bot fails at interval 199: the held-out half day is shorter
    baseline = [r for r in market.list_submissions(0) if r.private]
    assert len(baseline) == 1 and baseline[0].window_start == held[0].window_start
    assert "not scored yet" in caplog.text
    # private evaluations write no task row (its diagnostic would show the score on the team page)
    assert len([r for r in market.list_tasks() if r.type.value == "evaluation"]) == 3

    secrets = _strings([*held, *baseline])
    assert secrets
    assert not any(s in json.dumps(table) + (state.message or "") for s in secrets)
    site = env / "site"
    board = json.loads((site / "leaderboard.json").read_text())
    assert board["private"] == {"revealed": False}
    for path in (p for p in site.rglob("*") if p.is_file()):
        text = path.read_text(errors="replace")
        assert not [s for s in secrets if s in text], path

    again = evaluate_round()
    assert all(row["run"] == "skipped (already evaluated)" for row in again)
    assert sorted(r.evaluated_at for t in teams for r in market.list_submissions(t) if r.private) == \
        sorted(r.evaluated_at for r in held)

    reveal.reveal(market)
    final = json.loads((publish_site(market, load_settings()) / "leaderboard.json").read_text())["private"]
    assert [w["scored"] for w in final["windows"]] == [True, False]
    ranked = [r["team_id"] for r in final["rows"] if r["rank"] is not None]
    assert ranked == [p.record.team_id for p in rank(held)] and len(ranked) == 3
    public_rank = {r["team_id"]: r["rank"] for r in board["rows"]}
    assert {r["team_id"]: r["shake_up"] for r in final["rows"]} == {
        t: (public_rank[t] - ranked.index(t) - 1 if public_rank[t] is not None else None) for t in ranked}
