"""`arena demo`: the whole competition machine, offline, on the bundled data and example teams."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from cli._common import console, fail, warn_if_not_isolated
from cli.run import print_ranked


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        port: Annotated[int, typer.Option(help="Port of the local Prefect server")] = 4200,
        backend: Annotated[str | None, typer.Option(help="Sandbox: docker | process (default: ARENA_SANDBOX_BACKEND, else docker)")] = None,
    ) -> None:
        """Ingest the bundled data, register four example teams (local git repos), poll their
        submissions, evaluate them in the sandbox against the baseline, publish the leaderboard."""
        from arena.settings import load_settings
        from battery_sim.data import parse_timestamp
        from cli import demo_kit as kit

        settings = load_settings()
        backend = warn_if_not_isolated(backend)
        os.environ.setdefault("ARENA_COMPETITION_WINDOW_START", kit.DEMO_WINDOW[0])
        os.environ.setdefault("ARENA_COMPETITION_WINDOW_END", kit.DEMO_WINDOW[1])
        # Lines that carry a path or URL are never folded: a person copies them, a script greps them.
        console.print(f"[bold]arena demo[/] — home {settings.home.resolve()}", soft_wrap=True)
        try:
            api_url, pid = kit.use_local_prefect(settings.home / "prefect", port)
        except RuntimeError as exc:
            fail(str(exc))
        console.print(f"Prefect API {api_url}" + (f" (server pid {pid}, started now)" if pid else ""))

        from flows.evaluation import evaluate_round
        from flows.ingest import ingest_prices
        from flows.submissions import poll_submissions
        from tasks.store import open_store

        # The demo is `arena db init` plus the whole job in one command (`make demo` on a fresh clone).
        store = open_store(create=True)
        report = ingest_prices(source="file", file=str(kit.DEMO_DATA), region=kit.REGION)
        console.print(f"market data: {report.get('rows_written', 0)} rows written from {kit.DEMO_DATA.name}")
        teams = kit.register_teams(store, settings.home / "demo" / "repos")
        console.print(f"teams: {', '.join(f'{t.team_id} {t.team_name}' for t in teams)}")
        # New submission commits become kickoff rows, each evaluated in the sandbox as it arrives;
        # the round then ranks every team's current submission (nothing is evaluated twice).
        polled = poll_submissions(evaluate=True)
        console.print(f"new submissions: {len(polled.get('submissions', []))}")
        rows = evaluate_round(window_start=parse_timestamp(kit.DEMO_WINDOW[0]),
                              window_end=parse_timestamp(kit.DEMO_WINDOW[1]), backend=backend)
        print_ranked(rows, "Leaderboard (value = score - baseline)")
        site = (settings.site.folder / "index.html").resolve()
        console.print(f"leaderboard site: file://{site}   (or `arena serve`)", soft_wrap=True)
        console.print(f"Prefect UI:       {api_url.removesuffix('/api')}"
                      + (f"   (server keeps running; stop it with `kill {pid}`)" if pid else ""), soft_wrap=True)
