"""One poller process for the two-pollers tests: waits at a start line (a file appearing), then
either polls a few rounds (`poll ROUNDS`) or requests evaluation of a given list of commits of team
101 (`request FILE`, the claim race with nothing else in between), and prints the SHAs it got, as
JSON. Settings come from the environment."""

import json
import os
import random
import sys
import time
from pathlib import Path

from tasks.gitrepo import CommitInfo
from tasks.store import open_store
from tasks.submissions import poll_submissions, request_evaluation

start_line, mode, arg = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
store = open_store()
start_line.with_name(f"ready-{os.getpid()}").touch()  # imports done: the parent waits for both
deadline = time.monotonic() + 300  # the other poller may import slowly on a loaded machine
while not start_line.exists():  # both processes leave the line together, so they race for real
    if time.monotonic() > deadline:
        sys.exit("start line never appeared")
    time.sleep(0.005)
requested, errors = [], []
if mode == "poll":
    for _ in range(int(arg)):
        report = poll_submissions(store)
        requested += [[s.team_id, s.sha] for s in report.submissions]
        errors += list(report.errors)
else:
    team = store.get_team(101)
    shas = json.loads(Path(arg).read_text())
    # Each process its own order, so they meet on the same commit at the same moment many times
    # (in one shared order the one behind would only ever find claims already made).
    random.Random(os.getpid()).shuffle(shas)
    for sha in shas:
        got = request_evaluation(store, team, CommitInfo(sha=sha, message="submission"))
        if got is not None:
            requested.append([got.team_id, got.sha])
        # A breath between commits, as a real poll has (git, HTTP): SQLite's busy handler backs off,
        # and without it the process holding the write lock could take every commit in one burst.
        time.sleep(0.003)
print(json.dumps({"requested": requested, "errors": errors}))
