"""`arena sandbox`: team images and leftover sandbox containers.

    arena sandbox images [--json]                 team images arena built
    arena sandbox build TEAM_DIR [--team-id N]    build (or reuse) a team image
    arena sandbox prune [--keep 1] [--dry-run]    old team images and containers of dead arenas
    arena sandbox check                           the configured backend, and whether it can run
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli._common import console, fail, print_json


def register(app: typer.Typer) -> None:
    sandbox = typer.Typer(name="sandbox", help="Team images and sandbox containers.", no_args_is_help=True)
    app.add_typer(sandbox)

    @sandbox.command("images")
    def images(json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False) -> None:
        """List the team images arena built (newest first)."""
        from tasks.sandbox.images import team_images

        rows = _guard(team_images)
        if json_out:
            print_json(rows)
            return
        table = Table("tags", "team", "commit", "created", "MB", "current")
        for row in rows:
            table.add_row(", ".join(row["tags"]) or "<none>", row["team"] or "-", (row["commit"] or "-")[:12],
                          row["created"][:19], f"{row['size_mb']:g}", "yes" if row["current"] else "no")
        console.print(table)

    @sandbox.command("build")
    def build(
        team_dir: Annotated[Path, typer.Argument(help="Team repo folder (2024 layout: bot/...)")],
        team_id: Annotated[int | None, typer.Option(help="Team id for the tag")] = None,
        commit: Annotated[str | None, typer.Option(help="Commit SHA for the tag")] = None,
        rebuild: Annotated[bool, typer.Option(help="Build even when a current image exists")] = False,
        json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    ) -> None:
        """Build (or reuse) the team image for TEAM_DIR."""
        from tasks.sandbox.images import ensure_team_image

        tag = _guard(ensure_team_image, team_dir, team_id=team_id, commit=commit, rebuild=rebuild,
                     log=None if json_out else console.print)
        print_json({"image": tag}) if json_out else console.print(tag)

    @sandbox.command("prune")
    def prune(
        keep: Annotated[int, typer.Option(min=0, help="Newest images kept per team")] = 1,
        team_id: Annotated[int | None, typer.Option(help="Only this team's images")] = None,
        dry_run: Annotated[bool, typer.Option(help="Only say what would go")] = False,
        json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    ) -> None:
        """Remove old team images and sandbox containers whose arena process is gone."""
        from tasks.sandbox.docker import prune_sandbox_containers, sandbox_containers
        from tasks.sandbox.images import prune_team_images

        if dry_run:
            containers = [c.name for c in _guard(sandbox_containers)]
        else:
            containers = _guard(prune_sandbox_containers)
        images_gone = _guard(prune_team_images, keep=keep, team_id=team_id, dry_run=dry_run)
        if json_out:
            print_json({"containers": containers, "images": images_gone, "dry_run": dry_run})
            return
        verb = "would remove" if dry_run else "removed"
        console.print(f"{verb} {len(containers)} container(s), {len(images_gone)} image(s)")
        for name in containers + images_gone:
            console.print(f"  {name}")

    @sandbox.command("check")
    def check(json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False) -> None:
        """The configured sandbox backend and whether it can run here (exit 1 when it cannot)."""
        from tasks.sandbox import configured_backend, docker_ready, isolation_warning

        backend = configured_backend()
        why = docker_ready()
        result = {"backend": backend, "docker": why or "ready", "isolated": isolation_warning(backend) is None}
        print_json(result) if json_out else console.print(
            f"backend: {backend} (docker: {result['docker']})", highlight=False)
        if backend == "docker" and why:
            raise typer.Exit(1)


def _guard(fn, *args, **kwargs):
    """arena's and Docker's failures as one line and a non-zero exit."""
    from battery_sim.errors import PolicyError
    from tasks.sandbox import SandboxUnavailable

    try:
        return fn(*args, **kwargs)
    except (SandboxUnavailable, PolicyError) as exc:
        fail(str(exc))
