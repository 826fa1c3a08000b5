"""(placeholder: filled by the issue that owns this noun)"""

import typer


def register(app: typer.Typer) -> None:
    pass
