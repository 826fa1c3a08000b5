"""The `arena` command. Each noun lives in its own module under arena/commands/ and
registers itself here."""

from __future__ import annotations

import typer

from arena.commands import REGISTRARS

app = typer.Typer(
    name="arena",
    help="Evaluation back-end for battery-trading competitions on the NEM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)



@app.callback()
def _root() -> None:
    """Evaluation back-end for battery-trading competitions on the NEM."""


for register in REGISTRARS:
    register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
