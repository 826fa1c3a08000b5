"""`arena webhook`: receive GitHub push events and poll the pushing team at once."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from cli._common import console, fail, shown
from cli._common import open_store_or_fail as open_store


def webhook(
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on (default ARENA_WEBHOOK_PORT, 8790)")] = None,
    host: Annotated[str | None, typer.Option(
        "--host", help="Address to listen on (default ARENA_WEBHOOK_HOST, 127.0.0.1; put a TLS proxy in front)")] = None,
) -> None:
    """Receive GitHub `push` webhooks (signed with ARENA_WEBHOOK_SECRET) and poll the team whose repo
    was pushed at once; runs until Ctrl-C or SIGTERM. The scheduled poll stays the fallback."""
    import signal
    import sys
    import threading

    from pydantic import ValidationError

    from arena.settings import WebhookSettings, load_settings
    from deployments.webhook import poll_team_now
    from tasks.webhook import Dispatcher, Receiver, WebhookServer

    try:
        settings = load_settings()
    except ValidationError as exc:
        fail(f"bad setting: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")
    hook: WebhookSettings = settings.webhook
    if not hook.secret:
        fail("no webhook secret: set ARENA_WEBHOOK_SECRET (16 characters or more) to the secret of the GitHub "
             "webhook; arena accepts no unsigned push")
    store = open_store()
    access = logging.getLogger("tasks.webhook")  # the receiver's own lines only, not every library's
    access.setLevel(logging.INFO)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    access.addHandler(handler)

    def say(line: str) -> None:
        console.print(shown(line), highlight=False, soft_wrap=True)  # team text: inert; one line each

    dispatcher = Dispatcher(lambda team_id: poll_team_now(store, settings.home, team_id, say))
    receiver = Receiver(hook.secret, lambda: store, dispatcher.submit, hook.max_body_bytes, hook.keep_deliveries)
    try:
        server = WebhookServer((host or hook.host, port if port is not None else hook.port), receiver)
    except OSError as exc:
        fail(f"cannot listen on {host or hook.host}:{port if port is not None else hook.port}: {exc}", code=1)

    def stop(signum, frame) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()  # shutdown() waits for serve_forever

    signal.signal(signal.SIGTERM, stop)
    bound_host, bound_port = server.server_address[:2]
    console.print(f"webhook: listening on http://{bound_host}:{bound_port}/ for GitHub push events "
                  f"(Ctrl-C to stop)", highlight=False, soft_wrap=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        dispatcher.stop()
    console.print("webhook: stopped")


def register(app: typer.Typer) -> None:
    app.command("webhook")(webhook)
