"""`arena publish` and `arena serve`: the leaderboard site.

    arena publish                      # render .arena/site from the store
    arena publish --s3 s3://bucket/lb  # ... and copy it to S3
    arena serve --port 8765            # look at it on http://127.0.0.1:8765/
"""

from __future__ import annotations

import functools
import http.server
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli._common import console, err_console, fail, print_json, shown, use_prefect_server


def _money(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f}"


def _warn(message: str) -> None:
    # A team's name and its stored error are in the message: printed as text, never as markup.
    err_console.print(f"[yellow]warning:[/] {shown(message)}", highlight=False)


def publish(
    s3: Annotated[str | None, typer.Option("--s3", help="Also copy the site to s3://bucket/prefix")] = None,
    folder: Annotated[Path | None, typer.Option(help="Render here instead of ARENA_SITE_FOLDER")] = None,
    artifact: Annotated[
        bool | None,
        typer.Option("--artifact/--no-artifact", help="Update the Prefect table artifact 'leaderboard' "
                     "(default: when PREFECT_API_URL is set or `arena up` runs)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the leaderboard document")] = False,
) -> None:
    """Render the leaderboard site (ranking + one page per team) from the store."""
    from arena.scoring import ScoringError
    from arena.settings import load_settings
    from tasks.publish import PublishError, build_board, leaderboard_artifact, publish_to_s3, read_public, render_into
    from tasks.store import StoreError, open_store

    settings = load_settings()
    target = folder or settings.site.folder
    s3_url = s3 or settings.site.s3_url
    try:
        # Read-only and never created: a mistyped store or prefix fails here, before anything
        # is rendered, so the published site stays as it was.
        store = open_store(settings.store, read_only=True)
    except StoreError as exc:
        fail(f"cannot open the store: {exc}; the site is left as it was", code=1)
    if s3_url and s3_url.startswith("s3://") and s3_url[len("s3://"):].partition("/")[0]:
        # (other URLs: publish_to_s3 names the mistake)
        from tasks.store.objects import check_bucket

        try:
            # Before rendering: a missing bucket is one line, and no site half-published.
            check_bucket(s3_url[len("s3://"):].partition("/")[0], what="site bucket (--s3)")
        except StoreError as exc:
            fail(f"{exc}; the site is left as it was", code=1)
    try:
        records = read_public(store, _warn)
        board = build_board(records, settings)
        render_into(target, records, board, _warn)
        uploaded = publish_to_s3(target, s3_url) if s3_url else []
    except (PublishError, ScoringError, StoreError) as exc:
        fail(str(exc))
    artifact_id = None
    if artifact is not False:
        # Unasked, only when a Prefect API is configured or `arena up` runs: without one Prefect
        # would start a temporary server just for this, which is slow and leaves nothing anyone sees.
        with use_prefect_server(temporary=bool(artifact)) as api_url:
            if artifact or api_url:
                try:
                    artifact_id = leaderboard_artifact(board)
                except Exception as exc:  # the site is published; a missing Prefect API must not hide that
                    fail(f"site written to {target}, but the Prefect artifact failed: {exc}", code=1)

    if as_json:
        print_json(board)
        return
    table = Table(title=f"{board['competition']} · {board['rules']}")
    for column in ("rank", "team", "city", "value", "score", "status"):
        table.add_column(column, justify="right" if column in ("rank", "value", "score") else "left")
    for row in board["rows"]:
        table.add_row(str(row["rank"] or "–"), shown(row["team_name"]), shown(row["city"]), _money(row["value"]),
                      _money(row["score"]), row["status"], )
    console.print(table, highlight=False)
    _print_final(board)
    console.print(f"baseline score {_money(board['baseline_score'])}; site written to {target / 'index.html'}",
                  highlight=False)
    if uploaded:
        console.print(f"uploaded {len(uploaded)} files to {s3_url}", highlight=False)
    if artifact_id:
        console.print(f"Prefect artifact 'leaderboard' updated ({artifact_id})", highlight=False)


# -- private leaderboard (issue 19): the final ranking, only once revealed ---------------------------
def _print_final(board: dict) -> None:
    final = board.get("private") or {}
    if not final.get("revealed"):
        return
    table = Table(title="final ranking (held-out windows)")
    for column in ("rank", "team", "value", "score", "public rank", "shake-up", "status"):
        table.add_column(column, justify="left" if column in ("team", "status") else "right")
    for row in final["rows"]:
        shake = "" if row["shake_up"] is None else f"{row['shake_up']:+d}"
        table.add_row(str(row["rank"] or "–"), shown(row["team_name"]), _money(row["value"]), _money(row["score"]),
                      str(row["public_rank"] or "–"), shake, row["status"])
    console.print(table, highlight=False)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
        console.print(f"[dim]{shown(self.address_string())} {shown(format % args)}[/]", highlight=False)


def make_server(folder: Path, port: int, host: str = "127.0.0.1") -> http.server.ThreadingHTTPServer:
    """An HTTP server for the site folder, bound to loopback only (port 0 = any free port)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    return http.server.ThreadingHTTPServer((host, port), handler)


def serve(
    port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (default ARENA_SITE_SERVE_PORT)")] = None,
    folder: Annotated[Path | None, typer.Option(help="Serve this folder instead of ARENA_SITE_FOLDER")] = None,
) -> None:
    """Serve the published site on http://127.0.0.1:PORT/ until Ctrl-C."""
    from arena.settings import SiteSettings

    site = SiteSettings()
    folder = folder or site.folder
    if not (folder / "index.html").is_file():
        fail(f"no site in {folder}: run `arena publish` first")
    try:
        server = make_server(folder, site.serve_port if port is None else port)
    except OSError as exc:
        fail(f"cannot listen on 127.0.0.1:{port or site.serve_port}: {exc.strerror or exc}")
    host, bound = server.server_address[:2]
    console.print(f"serving {folder} on http://{host}:{bound}/ (Ctrl-C stops)", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def register(app: typer.Typer) -> None:
    app.command("publish")(publish)
    app.command("serve")(serve)
