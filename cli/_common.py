"""Helpers every command module shares: one-line errors, JSON output, the store."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from arena.text import terminal_text

console = Console()
# Errors are one line whatever the terminal's width: scripts and people grep them.
err_console = Console(stderr=True, soft_wrap=True)


def shown(text: object) -> str:
    """Outside text (a team's error, class name, repo value) for a rich print: not read as
    markup, and no control character of it reaches the terminal."""
    return escape(terminal_text(text))


def fail(message: str, code: int = 2) -> NoReturn:
    # The message may quote a value from outside (a team's repo, a file's row): never read as markup.
    err_console.print(f"[bold red]error:[/] {shown(message)}", highlight=False)
    raise typer.Exit(code)


def warn_if_not_isolated(backend: str | None) -> str:
    """The backend this command will use (flag, else configuration), after telling the organiser
    on stderr when it is not a container. A bad name is a one-line error."""
    from tasks.sandbox import configured_backend, isolation_warning

    try:
        chosen = configured_backend(backend)
    except ValueError as exc:
        fail(str(exc))
    warning = isolation_warning(chosen)
    if warning:
        err_console.print(f"[bold yellow]warning:[/] {shown(warning)}", highlight=False)
    return chosen


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def open_store_or_fail(*, read_only: bool = False, create: bool = False, require_tables: bool = True) -> Any:
    """The configured store, or a one-line error and exit code 1.

    Only `arena db init`/`restore` pass create=True; a command that only reads passes
    read_only=True, so it never waits for (or takes) the SQLite write lock."""
    from arena.settings import StoreSettings
    from tasks.store import StoreError, open_store

    try:
        return open_store(StoreSettings(), create=create, read_only=read_only, require_tables=require_tables)
    except StoreError as exc:
        fail(f"cannot open the store: {exc}", code=1)


def check_objects_or_fail() -> None:
    """The preflight of a command that will write private trials: a missing bucket, an
    unreachable S3 endpoint or a folder that cannot be written is one line and exit code 1,
    before any team runs (instead of minutes of retries per team)."""
    from tasks.store import StoreError
    from tasks.store.objects import checked_objects

    try:
        checked_objects()
    except StoreError as exc:
        fail(f"cannot use the object store: {exc}", code=1)



@contextlib.contextmanager
def use_prefect_server(*, temporary: bool = True) -> Iterator[str | None]:
    """Where the flow runs of the command inside go: the Prefect API the organiser configured
    (PREFECT_API_URL, in the environment or a Prefect profile); else the server `arena up`
    records under the home, when it answers (one line says so: the runs are in its UI); else,
    with `temporary`, a temporary server Prefect starts for this command alone, given a startup
    timeout a loaded machine meets and its database in the home (one line says so). Yields the
    API URL, or None for a temporary (or, without `temporary`, no) server. The processes the
    command starts inherit the choice."""
    import os

    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_HOME,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    from arena.settings import load_settings
    from deployments.server import find_running

    configured = PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    settings = load_settings()
    running = find_running(settings.home)
    if running is not None:
        os.environ["PREFECT_API_URL"] = running.api_url
        err_console.print(f"Prefect: attached to the `arena up` server {shown(running.ui_url)} (runs appear in its UI)",
                          highlight=False)
        with temporary_settings(updates={PREFECT_API_URL: running.api_url}):
            yield running.api_url
        return
    if not temporary:
        yield None
        return
    flows = settings.flows
    home = flows.prefect_home or settings.home / "prefect"
    err_console.print(f"Prefect: no `arena up` server is running for {shown(settings.home)}; starting a temporary "
                      f"one for this command (its runs are kept in {shown(home)})", highlight=False)
    with temporary_settings(updates={PREFECT_HOME: home, PREFECT_SERVER_ANALYTICS_ENABLED: False,
                                     PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: flows.temporary_server_timeout_s}):
        yield None
