"""The static site: `index.html` (the ranking), `teams/<team_id>.html` (one page per team),
`leaderboard.json` (the board as built by arena/scoring.py) and `static/` (CSS, JS).

Plain functions over records; the caller gathers them (tasks/publish.py does it from the
store). What reaches a page is chosen field by field here, so only public data is ever
written: a team page gets only that team's submissions and task rows, no page gets a
team's repo, branch or limits, a task's command or flow run id, or anything that is not
in a SubmissionRecord / TaskRow / Team. Jinja autoescaping is on for every template, and
every value a template prints passes leaderboard.hostpaths (no path of this machine).

One clock on every page: NEM time from the board's ruleset (leaderboard.nemtime), for the
facts, the tables, the chart axes, and the UTC times arena wrote inside messages. One
interval numbering: the evaluator's, from 0 (leaderboard.explain).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from arena.models import SubmissionRecord, TaskRow, TaskState, Team
from arena.scoring import row_value
from arena.text import one_line
from battery_sim.rules import INTERVAL_S
from leaderboard.charts import Chart, Series, clock, render_svg
from leaderboard.explain import explain_failure
from leaderboard.hostpaths import HostPaths
from leaderboard.nemtime import in_nem_time, label, nem_time, nem_zone

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
RECENT_TASKS = 20
RENDER_FAILED = "could not render this team's result"
log = logging.getLogger(__name__)


def _env(zone: timezone | None = None, host_paths: HostPaths | None = None) -> Environment:
    zone = zone or nem_zone()
    hide = host_paths or HostPaths()

    def public(value: Any) -> Any:
        # Markup (the charts' SVG) is arena's own drawing; every other string may quote the host.
        return hide(value) if isinstance(value, str) and not hasattr(value, "__html__") else value

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its name: team names are untrusted
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=public,
    )
    env.filters["nem"] = lambda value: _fmt_time(value, zone)
    env.filters["nemtext"] = lambda text: in_nem_time(text, zone)
    env.filters["money"] = _fmt_money
    env.filters["short"] = lambda sha: (sha or "")[:8]
    env.filters["sortkey"] = lambda v: "" if v is None else v
    env.filters["shake"] = _fmt_shake
    env.globals["zone_label"] = label(zone)
    env.globals["zone"] = zone
    return env


def _fmt_time(value: Any, zone: timezone) -> str:
    """ISO text or epoch seconds -> NEM time, the clock participants trade on."""
    if value is None or value == "":
        return ""
    if isinstance(value, (int, float)):
        return nem_time(value, zone)
    try:
        return nem_time(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp(), zone)
    except ValueError:
        return str(value)


def _epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def _fmt_money(value: float | None) -> str:
    if value is None:
        return "–"
    if not math.isfinite(value):
        return str(value)  # what is stored, said as it is
    sign = "−" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def _fmt_shake(places: int | None) -> str:
    """A team's shake-up (public rank minus final rank): up, down or unchanged."""
    if places is None:
        return "–"
    return f"▲ {places}" if places > 0 else f"▼ {-places}" if places < 0 else "="


# -- private leaderboard (issue 19): the final ranking exists on the board only after the reveal ----
def final_ranking(board: dict[str, Any]) -> dict[str, Any] | None:
    """The board's final (private) ranking, None before the reveal (or without held-out windows)."""
    final = board.get("private") or {}
    return final if final.get("revealed") else None


def _final_row(board: dict[str, Any], team_id: int) -> dict[str, Any] | None:
    final = final_ranking(board)
    return next((row for row in final["rows"] if row["team_id"] == team_id), None) if final else None


def _series(trial: dict[str, Any], name: str) -> list[Any]:
    values = trial.get(name)
    return list(values) if isinstance(values, list) else []


def _xs(trial: dict[str, Any], n: int) -> list[float]:
    stamps = [clock(t) for t in _series(trial, "timestamps")[:n]]
    if len(stamps) == n and None not in stamps:
        return stamps
    return [float(i) for i in range(n)]  # no usable clock: plot against the interval number


def _line(label: str, css: str, trial: dict[str, Any], name: str, baseline: bool = False) -> Series | None:
    ys = _series(trial, name)
    if not ys:
        return None
    return Series(label, css, _xs(trial, len(ys)), ys, dashed=baseline, beneath=baseline)


def _executed(trial: dict[str, Any], name: str) -> tuple[str, str]:
    """The trial field of what the battery executed (after its limits), and the word for it; a
    record from before arena kept it has only the requests."""
    executed = f"executed_{name}"
    return (executed, "executed") if _series(trial, executed) else (name, "requested")


def team_charts(
    trial: dict[str, Any],
    baseline_trial: dict[str, Any] | None,
    window: tuple[int, int] | None = None,
    failed_at: int | None = None,
    zone: timezone | None = None,
    failed_label: str = "failed here",
) -> list[Chart]:
    """Price, state of charge, actions and cumulative profit over the window, against the
    baseline (drawn beneath). The actions are what the battery executed, after its power and
    capacity limits. `window` (epoch s) fixes the time axis of all four; `failed_at` marks the
    interval a failed run stopped at, labelled `failed_label`; `zone` is the axes' NEM clock."""
    base = baseline_trial or {}
    zone = zone or nem_zone()

    def chart(key: str, title: str, unit: str, *series: Series | None) -> Chart:
        return Chart(key, title, unit, tuple(s for s in series if s is not None), x_range=window,
                     marker=(failed_at, failed_label) if failed_at is not None else None, zone=zone)

    grid, grid_word = _executed(trial, "actions")
    solar, solar_word = _executed(trial, "solar_actions")
    base_grid, base_word = _executed(base, "actions")
    # A failed run has prices only up to where it stopped; the baseline's cover the window.
    price_source = max((trial, base), key=lambda t: len(_series(t, "market_prices")))
    return [
        chart("price", "Spot price", "$/MWh", _line("price", "price", price_source, "market_prices")),
        chart("soc", "Battery state of charge", "kWh",
              _line("your policy", "team", trial, "socs"),
              _line("baseline", "baseline", base, "socs", baseline=True)),
        chart("actions", "Actions", "kW (+ charge, − discharge)",
              _line(f"your grid action ({grid_word})", "team", trial, grid),
              _line(f"your solar to battery ({solar_word})", "solar", trial, solar),
              _line(f"baseline grid action ({base_word})", "baseline", base, base_grid, baseline=True)),
        chart("profit", "Cumulative profit", "$",
              _line("your policy", "team", trial, "profits"),
              _line("baseline", "baseline", base, "profits", baseline=True)),
    ]


def _public_task(row: TaskRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.type.value,
        "state": row.state_.value,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "git_commit_hash": row.git_commit_hash,
        "diagnostic": row.diagnostic,
        "logs_tail": row.logs_tail,
    }


def _public_submission(record: SubmissionRecord) -> dict[str, Any]:
    value = row_value(record)[1]  # the leaderboard's own value and rounding (arena/scoring.py)
    return {
        "git_commit_hash": record.git_commit_hash,
        "submitted_at": record.submitted_at,
        "evaluated_at": record.evaluated_at,
        "window_start": record.window_start,
        "window_end": record.window_end,
        "rules": record.rules,
        "status": record.status,
        "score": record.score,
        "baseline_score": record.baseline_score,
        "value": value,
        "steps": record.steps,
        "error": record.error,
        "class_name": record.class_name,
        "notes": record.notes,
    }


def _current_record(row: dict[str, Any], records: list[SubmissionRecord], board: dict[str, Any]) -> SubmissionRecord | None:
    """The record a leaderboard row was built from (same commit, window and rules)."""
    window = board["window"]
    for record in sorted(records, key=lambda r: r.evaluated_at, reverse=True):
        if (record.git_commit_hash == row["git_commit_hash"] and record.rules == board["rules"]
                and window["start"] is not None
                and record.window_start == _epoch(window["start"])
                and record.window_end == _epoch(window["end"])):
            return record
    return None


def is_round_record(record: SubmissionRecord, board: dict[str, Any]) -> bool:
    """Whether a record is one of the competition's own evaluations (its rules, over a window from
    the competition window's start, as every live round's is: only the end grows) rather than a
    backtest over some other window or rules, which never counts for the ranking."""
    if record.rules != board["rules"]:
        return False
    start = board["window"]["start"]
    return start is None or abs(record.window_start - _epoch(start)) <= INTERVAL_S


def render_index(board: dict[str, Any], env: Environment | None = None,
                 page_errors: Mapping[int, str] | None = None) -> str:
    env = env or _env(nem_zone(board["rules"]))
    return env.get_template("index.html").render(board=board, root=".", title=board["competition"],
                                                 page_errors=page_errors or {}, final=final_ranking(board))


def render_team(
    board: dict[str, Any],
    team: Team,
    submissions: Iterable[SubmissionRecord],
    tasks: Iterable[TaskRow],
    baseline: SubmissionRecord | None,
    env: Environment | None = None,
    recent_tasks: int = RECENT_TASKS,
    problem: str | None = None,
    warn: Callable[[str], None] | None = None,
) -> str:
    """One team's page. Records of other teams are dropped here, whatever the caller passed.
    `problem`: why this team's stored records could not be read, shown instead of a result."""
    env = env or _env(nem_zone(board["rules"]))
    zone = env.globals["zone"]
    own = [r for r in submissions if r.team_id == team.team_id]
    own_tasks = sorted((t for t in tasks if t.team_id == team.team_id), key=lambda t: t.id, reverse=True)
    row = next((r for r in board["rows"] if r["team_id"] == team.team_id), None)
    current = _current_record(row, own, board) if row and row["git_commit_hash"] else None
    failure = explain_failure(current, zone) if current is not None and current.status != "success" else None
    problem = problem or (current.score_problem if current is not None else None)
    if problem and warn is not None:
        warn(f"team {team.team_id} ({team.team_name}): {RENDER_FAILED}: {problem}")
    charts = []
    if current is not None:
        base_trial = baseline.main_trial if baseline is not None else None
        stamps = _series(current.main_trial, "timestamps") + _series(base_trial or {}, "timestamps")
        numeric = [t for t in map(clock, stamps + [current.window_end]) if t is not None]
        # The x axis runs over interval ends: from the first one to the window's end.
        window = (min(numeric), max(numeric)) if numeric else None
        failed_at = failure.interval_end if failure is not None else None
        failed_label = f"failed at interval {failure.interval}" if failure is not None else ""
        charts = [(c, render_svg(c)) for c in team_charts(current.main_trial, base_trial, window, failed_at, zone,
                                                          failed_label)]
    newest_first = sorted(own, key=lambda r: r.evaluated_at, reverse=True)
    history = [_public_submission(r) for r in newest_first if is_round_record(r, board)]
    backtests = [_public_submission(r) for r in newest_first if not is_round_record(r, board)]
    return env.get_template("team.html").render(
        board=board,
        root="..",
        title=team.team_name,
        team={"team_id": team.team_id, "team_name": team.team_name, "city": team.city},
        row=row,
        current=_public_submission(current) if current is not None else None,
        failure=failure,
        charts=charts,
        history=history,
        backtests=backtests,
        tasks=[_public_task(t) for t in own_tasks[:recent_tasks]],
        over_limit=[_public_task(t) for t in own_tasks if t.state_ is TaskState.over_limit],
        has_baseline_trial=baseline is not None and bool(baseline.main_trial),
        problem=f"{RENDER_FAILED}: {problem}" if problem else None,
        final=final_ranking(board), final_row=_final_row(board, team.team_id),
    )


def render_team_error(board: dict[str, Any], team: Team, message: str, env: Environment | None = None) -> str:
    """The page of a team whose own page could not be rendered: who it is and why, nothing else."""
    env = env or _env(nem_zone(board["rules"]))
    return env.get_template("team_error.html").render(
        board=board, root="..", title=team.team_name, message=message,
        team={"team_id": team.team_id, "team_name": team.team_name, "city": team.city})


def render_site(
    board: dict[str, Any],
    out_dir: Path,
    *,
    teams: Iterable[Team],
    submissions: Iterable[SubmissionRecord],
    tasks: Iterable[TaskRow],
    baseline: SubmissionRecord | None = None,
    recent_tasks: int = RECENT_TASKS,
    problems: Mapping[int, str] | None = None,
    warn: Callable[[str], None] = log.warning,
    host_paths: Iterable[str | Path] = (),
    checkout_roots: Iterable[str | Path] = (),
) -> Path:
    """Write the whole site into `out_dir` (created; expected empty). Returns out_dir.

    `baseline` is the baseline's own run over the board's window (team_id 0 in the store),
    drawn dashed on every team's charts; without it the charts show the team alone.

    Each team's page is rendered on its own: whatever its records hold, a page that cannot be
    rendered becomes that team's error page ("could not render this team's result: ...") and a
    line to `warn` (the organiser's log), and every other page is written as usual.
    `problems` (team_id -> why its records could not be read) are shown on those teams' pages.
    `host_paths` (arena's home, its folders) and `checkout_roots` (where repos are checked out),
    with the teams' own local repos and this machine's usual folders, never appear on a page.
    """
    problems = problems or {}
    out_dir = Path(out_dir)
    (out_dir / "teams").mkdir(parents=True, exist_ok=True)
    teams = list(teams)
    local_repos = [t.repo.removeprefix("file://") for t in teams if t.repo.startswith(("/", "file://", "~", "."))]
    hide = HostPaths([out_dir, *host_paths], repo_roots=[*checkout_roots, *local_repos])
    env = _env(nem_zone(board["rules"]), hide)
    submissions = list(submissions)
    tasks = list(tasks)
    by_team: dict[int, list[SubmissionRecord]] = {}
    for record in submissions:
        by_team.setdefault(record.team_id, []).append(record)
    tasks_by_team: dict[int, list[TaskRow]] = {}
    for row in tasks:
        if row.team_id is not None:
            tasks_by_team.setdefault(row.team_id, []).append(row)

    shutil.copytree(STATIC, out_dir / "static", dirs_exist_ok=True)
    (out_dir / "leaderboard.json").write_text(json.dumps(board, indent=2) + "\n", encoding="utf-8")
    page_errors: dict[int, str] = {}
    for team in teams:
        try:
            page = render_team(board, team, by_team.get(team.team_id, []), tasks_by_team.get(team.team_id, []),
                               baseline, env, recent_tasks, problem=problems.get(team.team_id), warn=warn)
        except Exception as exc:  # this team's records, whatever they hold, must not stop the others
            message = f"{RENDER_FAILED}: {type(exc).__name__}: {one_line(exc, 300)}"
            warn(f"team {team.team_id} ({team.team_name}): {message}")
            page_errors[team.team_id] = message
            page = render_team_error(board, team, message, env)
        (out_dir / "teams" / f"{team.team_id}.html").write_text(page, encoding="utf-8")
    # The ranking last, so it can say which team pages are error pages.
    (out_dir / "index.html").write_text(render_index(board, env, page_errors), encoding="utf-8")
    return out_dir

