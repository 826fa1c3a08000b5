"""The `arena` command, the top floor: one module per noun in this package, each registering
itself here. Nothing else imports this package."""

from __future__ import annotations

import typer

from cli import (
    datapoints,
    db,
    demo,
    evaluate,
    final,
    ingest,
    run,
    sandbox,
    site,
    submissions,
    tasks,
    teams,
    timers,
    webhook,
)

app = typer.Typer(
    name="arena",
    help="Evaluation back-end for battery-trading competitions on the NEM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Evaluation back-end for battery-trading competitions on the NEM."""


for noun in (evaluate, tasks, teams, db, ingest, datapoints, sandbox, submissions, site, run, timers, demo, webhook, final):
    noun.register(app)


def main() -> None:
    app()

