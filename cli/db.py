"""`arena db`: create, check, back up, restore and destroy the store's tables.

A backup is JSON lines, one `{"table": ..., "item": ...}` per row, the same on both backends,
so a SQLite backup restores into DynamoDB and back.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cli._common import console, err_console, fail, print_json
from cli._common import open_store_or_fail as open_store

db_app = typer.Typer(help="The store's tables: init, check, dump, restore, destroy.", no_args_is_help=True)

# Destroying these tables takes typing the prefix, --yes or not.
PROTECTED_PREFIXES = {"energy"}


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


def _store_error():
    from tasks.store import StoreError

    return StoreError


@db_app.command("init")
def init() -> None:
    """Create the store and every table if missing (safe to repeat); the only command that makes a store."""
    store = open_store(create=True)
    console.print(f"store ready: {store.backend}, prefix {store.prefix!r}", highlight=False)


@db_app.command("check")
def check(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Can the store be reached, is every table there, how many rows each; exit 1 when not."""
    store = open_store(read_only=True, require_tables=False)
    try:
        report = store.check()
    except _store_error() as exc:
        fail(f"store unreachable: {exc}", code=1)
    if as_json:
        print_json(report)
    else:
        table = Table(title=f"{report['backend']} {report.get('location') or ''} prefix {report['prefix']!r}")
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, count in report["tables"].items():
            table.add_row(name, "[red]missing[/]" if count is None else str(count))
        console.print(table)
    if report["missing"]:
        fail(f"missing table(s): {', '.join(report['missing'])}; run `arena db init`", code=1)


@db_app.command("destroy")
def destroy(yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (except for production)")] = False) -> None:
    """Drop every table of this prefix. Irreversible: dump first."""
    store = open_store(require_tables=False)
    prefix = store.prefix
    if prefix in PROTECTED_PREFIXES:
        typed = typer.prompt(f"This drops the production tables. Type the prefix ({prefix}) to go on")
        if typed != prefix:
            fail("prefix not typed; nothing dropped", code=1)
    elif not yes and not typer.confirm(f"Drop every {store.backend} table with prefix {prefix!r}?"):
        fail("nothing dropped", code=1)
    try:
        store.destroy()
    except _store_error() as exc:
        fail(str(exc), code=1)
    console.print(f"dropped every table with prefix {prefix!r}", highlight=False)


@db_app.command("dump")
def dump(file: Annotated[Path, typer.Argument(help="Backup file to write (JSON lines); - for stdout")]) -> None:
    """Write every row of every table as JSON lines."""
    store = open_store(read_only=True)
    counts: dict[str, int] = {}
    try:
        if str(file) == "-":
            for table, item in store.dump():
                sys.stdout.write(json.dumps({"table": table, "item": item}) + "\n")
                counts[table] = counts.get(table, 0) + 1
        else:
            # Written beside the target and renamed at the end: a failed dump never leaves a
            # half backup under the name of a good one.
            file.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w") as out:
                    for table, item in store.dump():
                        out.write(json.dumps({"table": table, "item": item}) + "\n")
                        counts[table] = counts.get(table, 0) + 1
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, file)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
    except _store_error() as exc:
        fail(str(exc), code=1)
    summary = ", ".join(f"{table} {count}" for table, count in sorted(counts.items())) or "nothing"
    err_console.print(f"dumped {sum(counts.values())} rows ({summary})", highlight=False)


def _read_backup(file: Path) -> list[tuple[str, dict[str, Any]]]:
    rows: list[tuple[str, dict[str, Any]]] = []
    try:
        lines = sys.stdin if str(file) == "-" else file.open()
    except OSError as exc:
        fail(f"cannot read {file}: {exc}")
    with lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                fail(f"{file} line {number}: not JSON ({exc.msg})")
            if not isinstance(entry, dict) or set(entry) != {"table", "item"} or not isinstance(entry["item"], dict):
                fail(f'{file} line {number}: expected {{"table": ..., "item": {{...}}}}')
            rows.append((entry["table"], entry["item"]))
    return rows


@db_app.command("restore")
def restore(file: Annotated[Path, typer.Argument(help="Backup file (JSON lines from `arena db dump`); - for stdin")]) -> None:
    """Write a backup's rows back (creating tables if missing). Every row is checked first:
    one bad row and nothing is written."""
    rows = _read_backup(file)
    store = open_store(create=True)
    try:
        written = store.restore(rows)
    except _store_error() as exc:
        fail(f"restore failed: {exc}", code=1)
    console.print(f"restored {written} rows into prefix {store.prefix!r}", highlight=False)
