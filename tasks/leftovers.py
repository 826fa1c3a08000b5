"""What arena processes that died on this host (SIGKILL, a lost terminal) leave behind on its
disk, and the prune that removes it.

A process can tell nobody it died, so everything it leaves carries its host and pid in its name:
  * its checkouts live under `<checkout_dir>/<host>-<pid>/` (`process_checkout_root`);
  * the concurrency slots it holds are recorded as `<slot_dir>/<lease id>.json` with its pid
    (`record_slot`), so the next round can give a dead holder's slot back at once instead of
    waiting for Prefect's lease to run out (flows/_prefect.py does the Prefect side);
  * git's own temp files in a mirror (half-written packs, `*.lock` files of a killed fetch) are
    removed only while holding the mirror's flock, so a live fetch is never disturbed.
Nothing here talks to Prefect; containers are pruned by tasks/sandbox/docker.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from arena.processes import pid_alive
from arena.settings import OrchestrationSettings, SandboxSettings, SubmissionSettings
from tasks.gitrepo import idle_mirror
from tasks.sandbox.docker import prune_sandbox_containers

_TAG = re.compile(r"^(?P<host>.+)-(?P<pid>\d+)$")


def process_tag() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _dead_tag(name: str, alive: Callable[[int], bool]) -> bool:
    """Whether a `<host>-<pid>` name belongs to a process of this host that is gone."""
    found = _TAG.match(name)
    return bool(found) and found.group("host") == socket.gethostname() and not alive(int(found.group("pid")))


# ---- checkouts -----------------------------------------------------------------------------


def process_checkout_root(root: Path | None = None) -> Path:
    """This process's own folder for checkouts (a prune removes it once the process is gone)."""

    return (root if root is not None else SubmissionSettings().checkout_dir) / process_tag()


def prune_checkouts(root: Path, *, alive: Callable[[int], bool] = pid_alive) -> list[str]:
    """Remove the checkout folders of processes of this host that are gone."""
    removed = []
    if not root.is_dir():
        return removed
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and _dead_tag(folder.name, alive):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    return removed


# ---- concurrency slots ---------------------------------------------------------------------


@dataclass(frozen=True)
class HeldSlot:
    """A concurrency slot a process of this host holds: Prefect's lease id, the limit's name,
    the flow run that holds it, and the process."""

    lease_id: str
    limit: str
    flow_run_id: str | None
    host: str
    pid: int

    def describe(self) -> str:
        by = f"flow run {self.flow_run_id}" if self.flow_run_id else "a process"
        return f"{by} (pid {self.pid} on {self.host})"


def _slot_dir(folder: Path | None) -> Path:
    return folder if folder is not None else OrchestrationSettings().slot_dir


def record_slot(lease_id: str, limit: str, flow_run_id: str | None, *, folder: Path | None = None) -> HeldSlot:
    held = HeldSlot(str(lease_id), limit, flow_run_id, socket.gethostname(), os.getpid())
    where = _slot_dir(folder)
    where.mkdir(parents=True, exist_ok=True)
    tmp = where / f".{held.lease_id}.tmp"
    tmp.write_text(json.dumps(asdict(held)))
    tmp.replace(where / f"{held.lease_id}.json")  # a reader never sees half a record
    return held


def forget_slot(lease_id: str, *, folder: Path | None = None) -> None:
    where = _slot_dir(folder)
    (where / f"{lease_id}.json").unlink(missing_ok=True)
    (where / f".{lease_id}.taken").unlink(missing_ok=True)


def take_over_slot(held: HeldSlot, *, folder: Path | None = None) -> bool:
    """Claim a dead holder's record before giving its slot back: of two processes that find it,
    one wins the rename, so the slot is given back once, never twice (over-filling the limit)."""
    where = _slot_dir(folder)
    try:
        (where / f"{held.lease_id}.json").rename(where / f".{held.lease_id}.taken")
    except FileNotFoundError:
        return False
    return True


def held_slots(limit: str | None = None, *, folder: Path | None = None) -> list[HeldSlot]:
    where = _slot_dir(folder)
    if not where.is_dir():
        return []
    found = []
    for path in sorted(where.glob("*.json")):
        try:
            held = HeldSlot(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue  # unreadable: not ours to judge
        if limit is None or held.limit == limit:
            found.append(held)
    return found


def dead_slots(limit: str | None = None, *, folder: Path | None = None,
               alive: Callable[[int], bool] = pid_alive) -> list[HeldSlot]:
    """Slots recorded by processes of this host that are gone (other hosts' are left to the lease)."""
    here = socket.gethostname()
    return [h for h in held_slots(limit, folder=folder) if h.host == here and not alive(h.pid)]


# ---- mirrors -------------------------------------------------------------------------------

# What a killed `git fetch` leaves in a bare repository: ref and config locks, half-written packs,
# and the quarantine folder of objects not yet checked.
_GIT_TEMP = ("*.lock", "objects/pack/tmp_*", "objects/incoming-*", "objects/pack/.tmp-*")


def prune_mirror_temp(mirror_dir: Path) -> list[str]:
    """Remove git's temp files from every mirror nobody is fetching into right now."""

    removed: list[str] = []
    if not mirror_dir.is_dir():
        return removed
    for mirror in sorted(p for p in mirror_dir.glob("*.git") if p.is_dir()):
        with idle_mirror(mirror) as idle:
            if not idle:
                continue  # a fetch or export runs: its files are not leftovers
            for pattern in _GIT_TEMP:
                for path in mirror.rglob(pattern) if pattern.startswith("*") else mirror.glob(pattern):
                    if path.is_dir():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)
                    removed.append(str(path))
    return removed


# ---- everything ----------------------------------------------------------------------------


@dataclass
class Pruned:
    checkouts: list[str] = field(default_factory=list)
    mirror_files: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"removed checkout {p}" for p in self.checkouts]
        out += [f"removed mirror temp file {p}" for p in self.mirror_files]
        out += [f"removed sandbox container {c}" for c in self.containers]
        return out + self.notes


def prune(*, containers: bool = True) -> Pruned:
    """The one prune of dead processes' leftovers (`arena tasks sync`, the `sync-task-rows`
    schedule): their checkouts, git temp files in the mirrors, and their sandbox containers
    (only those started from this host, by its run label when set, whose process is gone)."""

    settings = SubmissionSettings()
    done = Pruned(prune_checkouts(settings.checkout_dir), prune_mirror_temp(settings.mirror_dir))
    if containers:
        try:
            done.containers = prune_sandbox_containers(this_host=True)
        except Exception as exc:  # no Docker here: nothing of ours can be running in it either
            if SandboxSettings().backend == "docker":  # worth a word only where Docker is expected
                done.notes.append(f"containers not pruned: {type(exc).__name__}: {exc}")
    return done
