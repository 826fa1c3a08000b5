"""The private leaderboard's state in the store (issue 19): whether the organiser revealed it, and
which commits each team chose to count. Both are small meta items, written only by the organiser's
commands (`arena reveal`, `arena final choose`); publishing reads them.

    reveal(store, by="alice")        # the final ranking is published from the next publish on
    revealed(store)                  # {"revealed_at", "by"} or None
    choose(store, 101, ["ab12cd3"])  # team 101's commits for the final ranking (on its request)
    choices(store, [101, 102])       # {team_id: [(sha, submitted_at)]}
"""

from __future__ import annotations

import getpass
from typing import Any

from arena.models import utc_now_iso
from battery_sim.errors import BadInput
from tasks.store.base import Store

REVEAL_KEY = "private-reveal"
CHOICE_PREFIX = "final-choice:"


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry inside some containers
        return "organiser"


def revealed(store: Store) -> dict[str, Any] | None:
    return store.get_meta(REVEAL_KEY)


def reveal(store: Store, by: str | None = None) -> dict[str, Any]:
    """Record the reveal (who, when); a second reveal keeps the first one's record. Returns it."""
    value = {"revealed_at": utc_now_iso(), "by": _who(by)}
    if store.claim(REVEAL_KEY, value):
        return value
    return revealed(store) or value


def unreveal(store: Store) -> bool:
    """Take the reveal back (the next publish shows public scores only). Whether it was revealed."""
    was = revealed(store) is not None
    store.delete_meta(REVEAL_KEY)
    return was


def _submission_commits(store: Store, team_id: int) -> dict[str, str | None]:
    """The team's submitted commits (kickoff rows, and any commit it has a record of) -> received at."""
    commits: dict[str, str | None] = {}
    for row in store.list_tasks(team_id=team_id):
        if row.type.value == "submission-kickoff" and row.git_commit_hash:
            commits.setdefault(row.git_commit_hash, row.created_at)
    for record in store.list_submissions(team_id):
        commits.setdefault(record.git_commit_hash, record.submitted_at)
    return commits


def choose(store: Store, team_id: int, commits: list[str], *, most: int, by: str | None = None) -> list[tuple[str, str | None]]:
    """Record the commits team `team_id` chose for the final ranking (full hashes or unique prefixes of
    at least 7 characters of its own submissions, at most `most`). BadInput names what is wrong."""
    store.get_team(team_id)  # NotFound for a team that is not registered
    if not commits:
        raise BadInput("choose at least one commit (or --clear to go back to the competition's rule)")
    if len(commits) > most:
        raise BadInput(f"at most {most} commit(s) count for the final ranking of this competition; {len(commits)} given")
    known = _submission_commits(store, team_id)
    picked: list[tuple[str, str | None]] = []
    for given in commits:
        text = given.strip().lower()
        matches = [sha for sha in known if len(text) >= 7 and sha.startswith(text)]
        if len(matches) != 1:
            why = "is none of its submissions" if not matches else "matches several of its submissions"
            raise BadInput(f"commit {given!r} of team {team_id} {why} (give 7 or more characters of one)")
        if matches[0] not in (sha for sha, _ in picked):
            picked.append((matches[0], known[matches[0]]))
    store.put_meta(f"{CHOICE_PREFIX}{team_id}", {"commits": [list(p) for p in picked], "chosen_at": utc_now_iso(),
                                                 "by": _who(by)})
    return picked


def clear_choice(store: Store, team_id: int) -> None:
    store.delete_meta(f"{CHOICE_PREFIX}{team_id}")


def choices(store: Store, team_ids: list[int]) -> dict[int, list[tuple[str, str | None]]]:
    found = {}
    for team_id in team_ids:
        item = store.get_meta(f"{CHOICE_PREFIX}{team_id}")
        if item and item.get("commits"):
            found[team_id] = [(str(sha), at) for sha, at in item["commits"]]
    return found
