"""The private (held-out) leaderboard, issue 19: `arena reveal` and `arena final`.

    arena reveal                         # publish the final ranking (private scores) from now on
    arena reveal --undo                  # take it back: the site shows public scores only again
    arena final show                     # which commits of each team count, and whether they are scored
    arena final choose --team 101 --commit ab12cd3 [--commit ...]   # on the team's request
    arena final clear --team 101         # back to the competition's rule (ARENA_COMPETITION_PRIVATE_COUNTS)

Nothing here prints a private number before the reveal: `final show` says "scored" or not.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli._common import console, fail, print_json, shown
from cli._common import open_store_or_fail as open_store

final_app = typer.Typer(help="The final (private) ranking: which submissions count.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who did it (default: this user), kept in the store")]


def register(app: typer.Typer) -> None:
    app.command("reveal")(reveal)
    app.add_typer(final_app, name="final")


def _competition():
    from arena.settings import load_settings

    settings = load_settings()
    if not settings.competition.private:
        fail("this competition declares no held-out window (ARENA_COMPETITION_PRIVATE_WINDOWS): "
             "there is no private ranking")
    return settings


def _publish(store, settings) -> str:
    from tasks.publish import PublishError, publish_site

    try:
        return str(publish_site(store, settings) / "index.html")
    except PublishError as exc:
        fail(f"recorded, but the site was not republished: {exc}", code=1)


def reveal(
    undo: Annotated[bool, typer.Option("--undo", help="Take the reveal back")] = False,
    partial: Annotated[bool, typer.Option("--partial", help="Reveal although a held-out window is not scored yet")] = False,
    publish: Annotated[bool, typer.Option("--publish/--no-publish", help="Re-render the site folder now")] = True,
    by: ByOpt = None,
) -> None:
    """Reveal the private leaderboard: the final ranking follows the held-out windows' scores."""
    from arena import heldout
    from arena.scoring import iso_utc
    from tasks import reveal as state

    settings = _competition()
    store = open_store()
    if undo:
        was = state.unreveal(store)
        console.print("reveal taken back" if was else "it was not revealed", highlight=False)
    else:
        records = [r for t in store.list_teams() for r in store.list_submissions(t.team_id)]
        scored = heldout.scored_windows(records, settings.competition.private, settings.competition.rules)
        missing = [w for w in settings.competition.private if w not in scored]
        if missing and not partial:
            fail("not scored yet: held-out window(s) "
                 + ", ".join(f"{iso_utc(w.start)} .. {iso_utc(w.end)}" for w in missing)
                 + " (ingest their data and run a round, or reveal with --partial)")
        done = state.reveal(store, by=by)
        console.print(f"revealed at {done['revealed_at']} by {shown(done['by'])}", highlight=False)
    if publish:
        console.print(f"site written to {_publish(store, settings)}", highlight=False)
    else:
        console.print("run `arena publish` (or the next round) to publish it", highlight=False)


@final_app.command("show")
def show(as_json: JsonOpt = False) -> None:
    """Each team's commits that count for the final ranking, and whether each is scored yet."""
    from arena import heldout
    from tasks import reveal as state
    from tasks.rounds import counted_commits

    settings = _competition()
    store = open_store(read_only=True)
    competition = settings.competition
    counts = counted_commits(store, competition)
    chosen = state.choices(store, sorted(counts) + [t.team_id for t in store.list_teams()])
    records = [r for t in store.list_teams() for r in store.list_submissions(t.team_id)]
    windows = heldout.scored_windows(records, competition.private, competition.rules)
    rows = []
    for team_id, commits in sorted(counts.items()):
        for commit in commits:
            result = heldout.private_result(records, commit, windows, competition.rules) if windows else None
            rows.append({"team_id": team_id, "commit": commit.sha, "how": "chosen" if team_id in chosen else
                         competition.private_counts, "scored": result is not None})
    if as_json:
        print_json({"revealed": state.revealed(store), "rows": rows})
        return
    table = Table(title=f"counted for the final ranking ({competition.private_counts})")
    for column in ("team", "commit", "how", "private result"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["team_id"]), row["commit"][:12], row["how"], "scored" if row["scored"] else "not yet")
    console.print(table)
    revealed = state.revealed(store)
    console.print(f"revealed at {revealed['revealed_at']}" if revealed else "not revealed", highlight=False)


@final_app.command("choose")
def choose(
    team: Annotated[int, typer.Option("--team", help="Team id")],
    commit: Annotated[list[str], typer.Option("--commit", help="A submission commit of the team; repeatable")],
    by: ByOpt = None,
) -> None:
    """Record the commits a team asked to count for its final ranking (instead of the competition's rule)."""
    from battery_sim.errors import BadInput
    from tasks import reveal as state
    from tasks.store.base import NotFound

    settings = _competition()
    store = open_store()
    try:
        picked = state.choose(store, team, commit, most=settings.competition.counted[1], by=by)
    except NotFound:
        fail(f"team {team} is not registered")
    except BadInput as exc:
        fail(str(exc))
    console.print(f"team {team}: counted " + ", ".join(sha[:12] for sha, _ in picked)
                  + "; the next round scores them over the held-out windows", highlight=False)


@final_app.command("clear")
def clear(team: Annotated[int, typer.Option("--team", help="Team id")]) -> None:
    """Forget a team's choice: its counted submissions follow the competition's rule again."""
    from tasks import reveal as state

    _competition()
    state.clear_choice(open_store(), team)
    console.print(f"team {team}: counted by the competition's rule again", highlight=False)
