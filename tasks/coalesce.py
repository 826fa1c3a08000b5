"""Many requests for the same work, done once or twice: each evaluation that finishes asks for the
site to be published again, and a burst of them must not become a burst of publishes.

    coalesced(Path(".../.site.publish"), publish)   # True if this call did the work

A request writes a new token to `<base>.wanted`; whoever holds the flock of `<base>.lock` does
the work for every token written so far and records the last one done in `<base>.done`. A
caller finding the lock taken returns at once: the holder sees its token and works once more.
The holder looks again after letting the lock go, so a request written just before that is
never lost. Between processes of one host (and threads of one process) alike.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Callable
from pathlib import Path


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def _write(path: Path, text: str) -> None:
    temp = path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    temp.write_text(text)
    os.replace(temp, path)


def coalesced(base: Path, work: Callable[[], object]) -> bool:
    """Ask for `work` and do it unless another caller is doing it (that one does it again for
    this request). Returns whether this call did it. An exception of `work` is raised here, and
    the requests it was doing stay open for the next caller."""
    wanted, done, lock = (base.with_name(f"{base.name}.{part}") for part in ("wanted", "done", "lock"))
    base.parent.mkdir(parents=True, exist_ok=True)
    _write(wanted, uuid.uuid4().hex)
    did = False
    while _read(wanted) != _read(done):
        with open(lock, "a") as held:
            try:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return did  # the holder works again for this request
            try:
                while (token := _read(wanted)) != _read(done):
                    work()
                    _write(done, token)
                    did = True
            finally:
                fcntl.flock(held, fcntl.LOCK_UN)
    return did
