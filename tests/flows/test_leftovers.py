"""Leftovers of dead processes on this host: checkout folders, slot records, git temp files."""

from __future__ import annotations

import socket
import subprocess

from tasks import leftovers


def _dead_pid() -> int:
    ended = subprocess.Popen(["true"])
    ended.wait()  # gone and reaped
    return ended.pid


def test_prune_checkouts_removes_only_dead_processes_folders(tmp_path):
    host = socket.gethostname()
    dead = tmp_path / f"{host}-{_dead_pid()}"
    (dead / "101-abc").mkdir(parents=True)
    mine = leftovers.process_checkout_root(tmp_path)
    mine.mkdir()
    elsewhere = tmp_path / f"another-host-{_dead_pid()}"
    elsewhere.mkdir()
    legacy = tmp_path / "101-0123456789ab-deadbeef"
    legacy.mkdir()
    assert leftovers.prune_checkouts(tmp_path) == [str(dead)]
    assert not dead.exists() and mine.exists() and elsewhere.exists() and legacy.exists()


def test_slot_records_of_dead_holders_are_taken_over_once(tmp_path):
    live = leftovers.record_slot("lease-live", "containers", "run-1", folder=tmp_path)
    dead = leftovers.HeldSlot("lease-dead", "containers", "run-2", socket.gethostname(), _dead_pid())
    # a record as a killed process left it:
    (tmp_path / "lease-dead.json").write_text(__import__("json").dumps(__import__("dataclasses").asdict(dead)))
    assert {h.lease_id for h in leftovers.held_slots("containers", folder=tmp_path)} == {"lease-live", "lease-dead"}
    assert leftovers.dead_slots("containers", folder=tmp_path) == [dead]
    assert leftovers.dead_slots("other", folder=tmp_path) == []
    assert leftovers.take_over_slot(dead, folder=tmp_path) is True
    assert leftovers.take_over_slot(dead, folder=tmp_path) is False  # a second finder does not give it back again
    leftovers.forget_slot(dead.lease_id, folder=tmp_path)
    leftovers.forget_slot(live.lease_id, folder=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_mirror_temp_files_go_unless_a_fetch_holds_the_lock(tmp_path):
    import fcntl

    mirror = tmp_path / "team-7.git"
    subprocess.run(["git", "init", "-q", "--bare", str(mirror)], check=True)
    (tmp_path / "team-7.git.lock").touch()
    stale = [mirror / "refs" / "heads" / "main.lock", mirror / "objects" / "pack" / "tmp_pack_x1"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half")
    (mirror / "objects" / "incoming-abc").mkdir()
    with open(tmp_path / "team-7.git.lock") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a fetch runs
        assert leftovers.prune_mirror_temp(tmp_path) == []
        fcntl.flock(lock, fcntl.LOCK_UN)
    removed = leftovers.prune_mirror_temp(tmp_path)
    assert sorted(removed) == sorted(str(p) for p in [*stale, mirror / "objects" / "incoming-abc"])
    assert (mirror / "HEAD").exists() and not any(p.exists() for p in stale)
