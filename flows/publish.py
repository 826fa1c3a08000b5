"""The `publish-leaderboard` flow: site + leaderboard table artifact (+ S3 when configured)."""

from __future__ import annotations

from prefect import flow, get_run_logger, task

from arena.settings import load_settings
from flows import names
from flows._prefect import open_run_store
from flows._retry import PLATFORM_RETRIES
from tasks import publish


@task(**PLATFORM_RETRIES)
def render_site() -> tuple[str, dict]:
    settings = load_settings()
    store = open_run_store()
    # A team that cannot be shown is that team's error on the site and a warning on this run.
    warn = get_run_logger().warning
    records = publish.read_public(store, warn, settings)
    board = publish.build_board(records, settings)
    folder = publish.render_into(settings.site.folder, records, board, warn)
    return str(folder), board


@task(**PLATFORM_RETRIES)
def upload_site(folder: str, s3_url: str) -> int:
    return len(publish.publish_to_s3(folder, s3_url))


@flow(name="publish-leaderboard", flow_run_name=names.PUBLISH, log_prints=True)
def publish_leaderboard() -> str:
    """Render the static site from the store, keep the `leaderboard` table artifact in step,
    and copy the site to S3 when ARENA_SITE_S3_URL is set. Returns the site folder."""
    folder, board = render_site()
    publish.leaderboard_artifact(board)
    s3_url = load_settings().site.s3_url
    if s3_url:
        upload_site(folder, s3_url)
    ranked = [r for r in board["rows"] if r["rank"] is not None]
    get_run_logger().info(f"leaderboard: {len(ranked)} ranked of {len(board['rows'])} team(s) -> {folder}")
    return folder
