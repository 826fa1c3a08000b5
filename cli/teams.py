"""`arena teams`: the team registry (add, list, show, edit, remove, import from CSV or TOML).

Every input is checked before anything is written: an import with one bad row writes nothing and
names every bad row.
"""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from arena.models import UNLIMITED, Team
from arena.settings import SandboxSettings
from cli._common import console, fail, print_json
from cli._common import open_store_or_fail as open_store

# The sandbox limits a team may have raised (or lowered); the other sandbox settings are not per team.
LIMIT_KEYS = (
    "step_timeout_s",
    "startup_timeout_s",
    "run_timeout_s",
    "memory",
    "cpus",
    "pids_limit",
    "tmpfs_size",
    "log_cap_bytes",
    "log_tail_lines",
)

teams_app = typer.Typer(help="The team registry.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(teams_app, name="teams")




# -- checking input ------------------------------------------------------------------------------


def parse_limits(values: list[str] | dict[str, Any] | None) -> dict[str, float | str]:
    """`["step_timeout_s=5", ...]` or a mapping -> checked overrides, with the sandbox settings' own
    bounds (a limit of 0 s or a memory of 'lots' is refused here, not at run time)."""
    if not values:
        return {}
    pairs: list[tuple[str, Any]] = []
    if isinstance(values, dict):
        pairs = list(values.items())
    else:
        for text in values:
            key, sep, value = text.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"limit {text!r} is not KEY=VALUE (e.g. step_timeout_s=5)")
            pairs.append((key.strip(), value.strip()))
    limits: dict[str, float | str] = {}
    for key, value in pairs:
        if key not in LIMIT_KEYS:
            raise ValueError(f"unknown limit {key!r}; one of: {', '.join(LIMIT_KEYS)}")
        try:
            checked = getattr(SandboxSettings(**{key: value}), key)
        except ValidationError as exc:
            raise ValueError(f"limit {key}={value!r}: {exc.errors()[0]['msg']}") from None
        limits[key] = checked if isinstance(checked, str) else float(checked)
    return limits


# -- submission limits (tasks/limits.py): per team, in place of the competition's -----------------
SUBMISSION_LIMIT_KEYS = ("submissions_per_day", "submissions_total")
DEFAULT = "default"  # `teams edit`: back to the competition's limit


def parse_submission_limit(key: str, value: Any) -> int | str | None:
    """A teams-file or CLI submission limit: a whole number >= 0, `unlimited`, or `default`
    (the competition's); anything else is refused naming the key."""
    text = str(value).strip().lower() if not isinstance(value, bool) else ""
    if text in (UNLIMITED, DEFAULT):
        return None if text == DEFAULT else UNLIMITED
    if text.isascii() and text.isdigit():
        number = int(text)
        if number <= 1_000_000:
            return number
    raise ValueError(f"{key} {value!r} is not a whole number of submissions (0 to 1000000) or 'unlimited'")


def normalise_repo(repo: str) -> str:
    """A checked repo value (tasks.teamrepo: owner/name, an https/ssh git URL, file:// or an existing
    local folder); a local folder is stored as an absolute path, so pollers started elsewhere find it."""
    from tasks.teamrepo import InvalidRepo, check_repo

    repo = repo.strip()
    try:
        value = check_repo(repo, must_exist=True)
    except InvalidRepo as exc:
        raise ValueError(exc.diagnostic) from None
    if value.kind == "git" and value.where.startswith("/"):
        return value.where
    return repo


def normalise_branch(branch: str) -> str:
    from tasks.teamrepo import InvalidRepo, check_branch

    try:
        return check_branch(branch.strip())
    except InvalidRepo as exc:
        raise ValueError(exc.diagnostic) from None


def make_team(fields: dict[str, Any], *, base: Team | None = None) -> Team:
    """A checked Team from loose fields (CLI options, a CSV row, a TOML table)."""
    item = base.to_item() if base else {}
    for key, value in fields.items():
        if value is None or value == "":
            continue
        if key == "name":
            key = "team_name"
        if key == "id":
            key = "team_id"
        if key == "limits":
            value = parse_limits(value if isinstance(value, dict) else [p for p in str(value).split(";") if p.strip()])
        if key == "repo":
            value = normalise_repo(str(value))
        if key == "branch":
            value = normalise_branch(str(value))
        if key == "city":
            value = str(value).strip().upper()
        if key in SUBMISSION_LIMIT_KEYS:
            value = parse_submission_limit(key, value)
        item[key] = value
    try:
        return Team.model_validate(item)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'team'}: {e['msg']}" for e in exc.errors())
        raise ValueError(problems) from None


def read_team_file(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV (header: team_id,team_name,city,repo,branch[,limits as k=v;k=v]
    [,submissions_per_day][,submissions_total]) or a TOML file (`[[teams]]` tables with the same
    keys, limits as a table). A submission limit is a count, `unlimited`, or empty (the competition's)."""
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML: {exc}") from None
        rows = data.get("teams")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"{path}: expected [[teams]] tables")
        return rows
    if suffix == ".csv":
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"repo"} <= set(reader.fieldnames):
                raise ValueError(f"{path}: CSV needs a header with at least team_id, team_name, repo")
            return [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    raise ValueError(f"{path}: use a .csv or .toml file")


def _row_team(row: dict[str, Any]) -> str:
    """` (team 101 alpha)` for a problem line, from whatever the row holds."""
    who = " ".join(str(row.get(k) or "").strip() for k in ("team_id", "team_name")).strip()
    return f" (team {who})" if who else ""


# -- output ------------------------------------------------------------------------------------


def _limits_text(team: Team) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(team.limits.items()))


def _submission_limits_text(team: Team) -> str:
    return ", ".join(f"{k.removeprefix('submissions_')}={getattr(team, k)}" for k in SUBMISSION_LIMIT_KEYS
                     if getattr(team, k) is not None)


def _table(teams: list[Team]) -> Table:
    table = Table(title="teams")
    for column in ("id", "name", "city", "repo", "branch", "limits", "submission limits"):
        table.add_column(column, overflow="fold")
    for team in teams:
        table.add_row(str(team.team_id), team.team_name, team.city, team.repo, team.branch, _limits_text(team),
                      _submission_limits_text(team))
    return table


# -- commands ----------------------------------------------------------------------------------

IdOpt = Annotated[int, typer.Option("--id", help="Team id, 100-200")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
LimitOpt = Annotated[list[str] | None, typer.Option("--limit", help="Per-team sandbox limit, KEY=VALUE; repeatable")]


@teams_app.command("add")
def add(
    team_id: IdOpt,
    name: Annotated[str, typer.Option("--name", help="Team name as shown on the leaderboard")],
    repo: Annotated[str, typer.Option("--repo", help="owner/name on GitHub, a git URL, or a local path")],
    city: Annotated[str, typer.Option("--city", help="Venue, e.g. SYD")] = "",
    branch: Annotated[str, typer.Option("--branch")] = "main",
    limit: LimitOpt = None,
    per_day: Annotated[str | None, typer.Option(
        "--submissions-per-day", help="Submissions counted per NEM day (N or unlimited); default: the competition's")] = None,
    total: Annotated[str | None, typer.Option(
        "--submissions-total", help="Submissions counted in total (N or unlimited); default: the competition's")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite a team with the same id")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register a team."""
    try:
        team = make_team({"team_id": team_id, "team_name": name, "city": city, "repo": repo, "branch": branch,
                          "limits": parse_limits(limit), "submissions_per_day": per_day, "submissions_total": total})
    except ValueError as exc:
        fail(str(exc))
    store = open_store()
    if not replace and _exists(store, team.team_id):
        fail(f"team {team.team_id} exists; use `arena teams edit {team.team_id}` or --replace")
    store.put_team(team)
    if as_json:
        print_json(team.to_item())
    else:
        console.print(f"added team {team.team_id} {team.team_name} ({team.repo} @ {team.branch})")


def _exists(store, team_id: int) -> bool:
    from tasks.store import NotFound

    try:
        store.get_team(team_id)
    except NotFound:
        return False
    return True


def _get(store, team_id: int) -> Team:
    from tasks.store import NotFound

    try:
        return store.get_team(team_id)
    except NotFound:
        fail(f"no team {team_id}")


@teams_app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Every team, by id."""
    teams = open_store(read_only=True).list_teams()
    if as_json:
        print_json([t.to_item() for t in teams])
    else:
        console.print(_table(teams))


@teams_app.command("show")
def show(team_id: Annotated[int, typer.Argument(help="Team id")], as_json: JsonOpt = False) -> None:
    """One team and its task rows (submission requests, evaluations, diagnostics)."""
    store = open_store(read_only=True)
    team = _get(store, team_id)
    rows = store.list_tasks(team_id=team_id)
    if as_json:
        print_json({"team": team.to_item(), "tasks": [r.to_item() for r in rows]})
        return
    console.print(_table([team]))
    table = Table(title=f"tasks of team {team_id}")
    for column in ("id", "type", "state", "commit", "created", "diagnostic"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(str(row.id), row.type.value, row.state_.value, (row.git_commit_hash or "")[:12],
                      row.created_at[:19], row.diagnostic)
    console.print(table)


@teams_app.command("edit")
def edit(
    team_id: Annotated[int, typer.Argument(help="Team id")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    city: Annotated[str | None, typer.Option("--city")] = None,
    repo: Annotated[str | None, typer.Option("--repo")] = None,
    branch: Annotated[str | None, typer.Option("--branch")] = None,
    limit: LimitOpt = None,
    unset_limit: Annotated[list[str] | None, typer.Option("--unset-limit", help="Drop an override; repeatable")] = None,
    per_day: Annotated[str | None, typer.Option(
        "--submissions-per-day", help="Submissions counted per NEM day: N, unlimited, or default (the competition's)")] = None,
    total: Annotated[str | None, typer.Option(
        "--submissions-total", help="Submissions counted in total: N, unlimited, or default (the competition's)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change some fields of a team; limits given are merged into the existing overrides."""
    store = open_store()
    team = _get(store, team_id)
    try:
        limits = dict(team.limits)
        for key in unset_limit or []:
            if key not in limits:
                raise ValueError(f"team {team_id} has no override {key!r}")
            del limits[key]
        limits.update(parse_limits(limit))
        updated = make_team({"team_name": name, "city": city, "repo": repo, "branch": branch}, base=team)
        update: dict[str, Any] = {"limits": limits}
        for key, given in zip(SUBMISSION_LIMIT_KEYS, (per_day, total), strict=True):
            if given is not None:
                update[key] = parse_submission_limit(key, given)
        updated = Team.model_validate({**updated.to_item(), **update})
    except ValueError as exc:
        fail(str(exc))
    store.put_team(updated)
    if as_json:
        print_json(updated.to_item())
    else:
        console.print(f"updated team {team_id}")


@teams_app.command("remove")
def remove(team_id: Annotated[int, typer.Argument(help="Team id")]) -> None:
    """Remove a team from the registry (its task rows and results are kept)."""
    from tasks.store import NotFound

    try:
        open_store().delete_team(team_id)
    except NotFound:
        fail(f"no team {team_id}")
    console.print(f"removed team {team_id}")


@teams_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A .csv or .toml file of teams")],
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite teams that exist")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register many teams at once; nothing is written unless every row is valid."""
    try:
        rows = read_team_file(file)
    except ValueError as exc:
        fail(str(exc))
    teams, problems, seen = [], [], set()
    for number, row in enumerate(rows, start=1):
        try:
            team = make_team(row)
        except ValueError as exc:
            problems.append(f"row {number}{_row_team(row)}: {exc}")
            continue
        if team.team_id in seen:
            problems.append(f"row {number}: team {team.team_id} appears twice")
        seen.add(team.team_id)
        teams.append(team)
    store = open_store()
    if not replace:
        problems += [f"team {t.team_id} exists (use --replace)" for t in teams if _exists(store, t.team_id)]
    if problems:
        fail(f"{file}: nothing imported: " + " | ".join(problems))
    for team in teams:
        store.put_team(team)
    if as_json:
        print_json([t.to_item() for t in teams])
    else:
        console.print(f"imported {len(teams)} teams from {file}")
