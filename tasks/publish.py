"""Publishing the leaderboard: gather public records from the store, build the board,
render the static site into a folder (atomically), copy it to S3, and keep a Prefect
table artifact in step.

Each step is a plain function the `publish-leaderboard` flow (and `arena publish`) calls:
    board = board_from_store(store, settings)              # leaderboard.json document
    folder = publish_site(store, settings)                 # -> SiteSettings.folder
    publish_to_s3(folder, "s3://bucket/prefix")            # prefect-aws S3Bucket
    leaderboard_artifact(board)                            # Prefect table artifact "leaderboard"

or all four in order: `publish_leaderboard(store, settings, s3_url=None, artifact=True)`.

Only the store's public tables are read: teams, submissions and task rows, and of meta only the
private leaderboard's reveal and the teams' final choices (tasks/reveal.py). Counters, other meta
and the private trials in the object store are never touched. Private records (held-out windows,
issue 19) are split off on reading (`read_public`): before `arena reveal` none of them, nor any
record over a held-out window, reaches the board, a page or the artifact; after it, only the final
ranking built from them (arena/heldout.py) does.

Each team stands alone: its records are read per team, and a team whose stored records cannot
be read or rendered (written by an older arena, or by hand) is shown with that error, told to the
organiser's log (`warn`), while every other team is published as usual. A store that cannot be
reached at all still fails the publish, so a good site is never replaced by one of errors.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from uuid import UUID

from arena import heldout
from arena.models import SubmissionRecord, TaskRow, Team
from arena.scoring import BASELINE_TEAM_ID, baseline_record, board_window, build_leaderboard, parse_time
from arena.settings import Settings, load_settings
from arena.text import one_line
from battery_sim.errors import PlatformFailure
from leaderboard.render import render_site
from tasks import markdown, reveal
from tasks.coalesce import coalesced
from tasks.store.base import Store

ARTIFACT_KEY = "leaderboard"
log = logging.getLogger(__name__)
Warn = Callable[[str], None]


class PublishError(PlatformFailure):
    """Publishing failed; the previously published site is left as it was."""

@dataclass(frozen=True)
class PublicRecords:
    """Everything the site may show, read once from the store."""

    teams: list[Team]
    submissions: list[SubmissionRecord]
    tasks: list[TaskRow]
    problems: dict[int, str] = field(default_factory=dict)  # team_id -> why its records could not be read
    # -- private leaderboard (issue 19): empty unless the organiser revealed it ------------------
    revealed: dict[str, Any] | None = None  # the reveal's meta item (who, when)
    private: list[SubmissionRecord] = field(default_factory=list)  # the held-out windows' records
    choices: dict[int, list[tuple[str, str | None]]] = field(default_factory=dict)


def read_public(store: Store, warn: Warn = log.warning, settings: Settings | None = None) -> PublicRecords:
    """Everything the site may show. `settings` (default: read now): the held-out windows, whose
    records are kept out of `submissions` always, and read into `private` only after the reveal."""
    windows = (settings or load_settings()).competition.private
    state = reveal.revealed(store) if windows else None
    teams = store.list_teams()
    submissions: list[SubmissionRecord] = []
    held: list[SubmissionRecord] = []
    tasks: list[TaskRow] = []
    problems: dict[int, str] = {}

    def keep(records: list[SubmissionRecord]) -> None:
        public = heldout.public_only(records, windows)
        submissions.extend(public)
        if state is not None:
            held.extend(r for r in records if heldout.is_private(r))

    try:
        keep(store.list_submissions(BASELINE_TEAM_ID))
    except ValueError as exc:  # the charts go without the baseline's line; every team still scores
        warn(f"the baseline's stored run cannot be read: {one_line(exc, 300)}")
    for team in teams:
        # Per team, so rows of no team (ingest, internal commands) are never read, and one team's
        # unreadable row (a ValueError: bad JSON, a field of the wrong type) is that team's alone.
        # A StoreError (the store is unreachable) is arena's and fails the whole publish.
        try:
            own = store.list_submissions(team.team_id)
            own_tasks = store.list_tasks(team_id=team.team_id)
        except ValueError as exc:
            problems[team.team_id] = f"its stored records cannot be read ({one_line(exc, 300)})"
            continue
        keep(own)
        tasks.extend(own_tasks)
    chosen = reveal.choices(store, [t.team_id for t in teams]) if state is not None else {}
    return PublicRecords(teams, submissions, tasks, problems, state, held, chosen)


def build_board(records: PublicRecords, settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    competition = settings.competition
    board = build_leaderboard(
        records.submissions,
        records.teams,
        competition=competition.name,
        rules=competition.rules,
        window_start=parse_time(competition.window_start) if competition.window_start else None,
        window_end=parse_time(competition.window_end) if competition.window_end else None,
        now=now,
        unreadable=records.problems,
    )
    if competition.private:
        board["private"] = private_part(records, settings, board)
    return board


def private_part(records: PublicRecords, settings: Settings, board: dict[str, Any]) -> dict[str, Any]:
    """The board's `private` key: before the reveal only that there is one to come; after it the
    final ranking (arena/heldout.py), with public ranks and the shake-up."""
    if records.revealed is None:
        return {"revealed": False}
    competition = settings.competition
    start = parse_time(competition.window_start) if competition.window_start else None
    public = heldout.public_round_records(records.submissions, competition.rules, start, competition.private)
    counts = heldout.counted(public, competition.counted, records.choices)
    return heldout.private_board(records.private, records.teams, windows=competition.private,
                                 rules=competition.rules, counts=counts, public_rows=board["rows"],
                                 mode_text=competition.private_counts, revealed=records.revealed)


def board_from_store(store: Store, settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    return build_board(read_public(store, settings=settings), settings, now)


def private_folders(settings: Settings) -> dict[str, list[str]]:
    """The folders of this arena that no page may name (render_site's `host_paths`) and where team
    repos are checked out (its `checkout_roots`, whose paths keep their part inside the repo)."""
    store = settings.store
    hidden = [settings.home, settings.site.folder, settings.submissions.mirror_dir, settings.flows.slot_dir]
    if store.url.startswith("sqlite:///"):
        hidden.append(Path(store.url[len("sqlite:///"):]).parent)
    if "://" not in store.objects_url:
        hidden.append(Path(store.objects_url))
    return {"host_paths": [str(p) for p in hidden], "checkout_roots": [str(settings.submissions.checkout_dir)]}


def render_into(folder: Path, records: PublicRecords, board: dict[str, Any], warn: Warn = log.warning,
                settings: Settings | None = None) -> Path:
    """Render the site into `folder` atomically: a sibling temp folder is filled, then
    swapped in with two renames, so a reader sees the old site or the new one, never a
    half-written one. Returns `folder`. `settings` (default: read now): whose folders no page names."""
    # Imported here: the renderer pulls in Jinja2, which only publishing needs.

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    window = board_window(board)
    baseline = baseline_record(records.submissions, window, board["rules"]) if window else None
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=folder.parent))
    retired = staging.with_name(staging.name.replace(".new-", ".old-"))
    try:
        render_site(board, staging, teams=records.teams, submissions=records.submissions,
                    tasks=records.tasks, baseline=baseline, problems=records.problems, warn=warn,
                    **private_folders(settings or load_settings()))
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700; a web server must read it
        if folder.exists():
            os.rename(folder, retired)
        os.rename(staging, folder)
    except Exception as exc:
        if retired.exists() and not folder.exists():
            os.rename(retired, folder)  # put the old site back
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise PublishError(f"cannot write the site to {folder}: {exc}") from exc
        raise
    shutil.rmtree(retired, ignore_errors=True)
    return folder


def publish_site(store: Store, settings: Settings, now: datetime | None = None, warn: Warn = log.warning) -> Path:
    """Render the site from the store into `settings.site.folder` (atomically). Returns the folder.
    A team that cannot be shown is told to `warn` (the organiser's log) and shown as an error."""
    records = read_public(store, warn, settings)
    board = build_board(records, settings, now)
    return render_into(settings.site.folder, records, board, warn, settings)


@dataclass(frozen=True)
class Published:
    board: dict[str, Any]
    folder: Path
    s3_keys: list[str]
    artifact_id: UUID | None


def publish_leaderboard(
    store: Store, settings: Settings, *, s3_url: str | None = None, artifact: bool = True,
    now: datetime | None = None, warn: Warn = log.warning,
) -> Published:
    """Everything one publish does, in order: board, site folder, S3 (`s3_url`, else
    `settings.site.s3_url`, if any), then the Prefect artifact. The step the
    `publish-leaderboard` flow wraps; each step is also callable alone."""
    records = read_public(store, warn, settings)
    board = build_board(records, settings, now)
    folder = render_into(settings.site.folder, records, board, warn, settings)
    target = s3_url or settings.site.s3_url
    keys = publish_to_s3(folder, target) if target else []
    artifact_id = leaderboard_artifact(board) if artifact else None
    return Published(board, folder, keys, artifact_id)


def republish(store: Callable[[], Store], settings: Settings, *, artifact: bool = True,
              warn: Warn = log.warning) -> bool:
    """`publish_leaderboard` after an evaluation finished, coalesced with every other republish of
    the same site folder on this host (tasks/coalesce.py): evaluations finishing together publish
    once or twice, not once each. `store` opens the store (only if this call publishes).
    Returns whether this call published; a publish failure is raised."""

    folder = Path(settings.site.folder)
    return coalesced(folder.with_name(f".{folder.name}.publish"),
                     lambda: publish_leaderboard(store(), settings, artifact=artifact, warn=warn))


def _parse_s3_url(s3_url: str) -> tuple[str, str]:
    parsed = urlparse(s3_url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise PublishError(f"not an S3 URL: {s3_url!r} (expected s3://bucket/prefix)")
    return parsed.netloc, parsed.path.strip("/")


def _upload_order(path: Path) -> tuple[int, str]:
    # Pages link to static files and team pages; upload those first and the entry points
    # last, so a reader never follows a link to something not uploaded yet.
    entry = path.name in ("index.html", "leaderboard.json") and path.parent.name != "teams"
    return (1 if entry else 0, str(path))


def publish_to_s3(folder: Path, s3_url: str, *, credentials: Any = None) -> list[str]:
    """Upload every file of the site folder under s3://bucket/prefix through prefect-aws's
    `S3Bucket`, with a Content-Type per file so a browser renders the pages. `credentials`
    is a prefect-aws `AwsCredentials` (default: the usual AWS environment). Returns the keys."""
    from prefect_aws import AwsCredentials, S3Bucket

    folder = Path(folder)
    if not (folder / "index.html").is_file():
        raise PublishError(f"{folder} holds no site (no index.html); run `arena publish` first")
    bucket_name, prefix = _parse_s3_url(s3_url)
    bucket = S3Bucket(bucket_name=bucket_name, bucket_folder=prefix,
                      credentials=credentials or AwsCredentials())
    keys = []
    files = sorted((p for p in folder.rglob("*") if p.is_file()), key=_upload_order)
    for path in files:
        relative = path.relative_to(folder).as_posix()
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/json", "application/javascript"):
            content_type += "; charset=utf-8"
        extra = {"ContentType": content_type, "CacheControl": "max-age=60"}
        try:
            keys.append(bucket.upload_from_path(path, relative, ExtraArgs=extra, _sync=True))
        except Exception as exc:  # botocore raises many kinds; the caller needs one
            raise PublishError(f"upload of {relative} to {s3_url} failed: {exc}") from exc
    return keys


def artifact_table(board: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of the Prefect table artifact: the board's columns a person scans first. The UI
    renders each cell as markdown, so team text is escaped (tasks/markdown.py). After the reveal,
    the final (private) ranking's rows, with the public rank beside them."""
    final = board.get("private") or {}
    if final.get("revealed"):
        return _final_table(final)
    return markdown.table(
        {
            "rank": row["rank"] if row["rank"] is not None else "",
            "team": row["team_name"],
            "city": row["city"],
            "value": round(row["value"], 4) if row["value"] is not None else "",
            "score": round(row["score"], 4) if row["score"] is not None else "",
            "status": row["status"],
            "commit": (row["git_commit_hash"] or "")[:8],
        }
        for row in board["rows"]
    )


def _final_table(final: dict[str, Any]) -> list[dict[str, Any]]:
    return markdown.table(
        {
            "final rank": row["rank"] if row["rank"] is not None else "",
            "team": row["team_name"],
            "private value": round(row["value"], 4) if row["value"] is not None else "",
            "public rank": row["public_rank"] if row["public_rank"] is not None else "",
            "shake-up": row["shake_up"] if row["shake_up"] is not None else "",  # places gained
            "status": row["status"],
            "commit": (row["git_commit_hash"] or "")[:8],
        }
        for row in final["rows"]
    )


def leaderboard_artifact(board: dict[str, Any]) -> UUID:
    """Create (or add a new version of) the Prefect table artifact with key `leaderboard`.
    Needs a Prefect API (a flow run, a server, or the test harness)."""
    from prefect.artifacts import create_table_artifact

    window = board["window"]
    description = (
        f"**{markdown.text(board['competition'])}** · rules {markdown.text(board['rules'])}"
        f" · window {markdown.text(window['start'])} → {markdown.text(window['end'])}"
        f" · baseline score {markdown.text(board['baseline_score'])} · generated {markdown.text(board['generated_at'])}"
    )
    return create_table_artifact(table=artifact_table(board), key=ARTIFACT_KEY, description=description, _sync=True)


__all__ = [
    "ARTIFACT_KEY",
    "BASELINE_TEAM_ID",
    "PublicRecords",
    "Published",
    "PublishError",
    "board_from_store",
    "build_board",
    "leaderboard_artifact",
    "publish_leaderboard",
    "publish_site",
    "publish_to_s3",
    "read_public",
    "render_into",
]
