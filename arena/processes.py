"""Facts about local processes that several parts of arena ask for."""

from __future__ import annotations

import ctypes
import os


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs (zombies, ended but not yet reaped, do not)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True  # no /proc: the signal's answer is all there is
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                stat = file.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (name) ": state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def command_line(pid: int) -> list[str]:
    """The arguments a process of this host was started with ([] when it is gone, or unknown:
    no /proc). What tells a process arena started from one that got its pid since."""
    try:
        raw = open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def end_with_parent(signum: int = 15) -> None:
    """For `preexec_fn`: the child gets `signum` (default SIGTERM) when its parent dies, even by
    SIGKILL, so a killed parent leaves no child serving on (Linux; elsewhere nothing)."""

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signum, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
