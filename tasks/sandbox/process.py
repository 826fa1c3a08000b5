"""The `process` backend: the same agent and protocol in a jailed subprocess, for machines
without Docker. Only used when named (ARENA_SANDBOX_BACKEND=process or --backend process).

`unshare` puts the run in new pid, mount, network, IPC and UTS namespaces (and a user namespace
when arena is not root); jail.py, pid 1 in there, builds a root that holds only what the agent
needs (no store, no data file, no other team, no Docker socket, no host /proc), drops every
capability, takes a uid of its own when arena runs as root, sets rlimits (memory as RLIMIT_AS,
CPU seconds, file size, processes) and execs the agent. Killing `unshare` kills pid 1 and with it
the whole namespace, so nothing survives a `setsid`. What it is not: a cgroup (memory is address
space, not resident size; no CPU share), a seccomp filter, or a separate kernel: see SECURITY.md.
The protocol runs over the child's stdin/stdout pipes; the agent moves team output to stderr,
which a reader thread keeps, capped to the last `log_cap_bytes`.
"""

from __future__ import annotations

import json
import math
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import battery_sim
from tasks.sandbox.layout import ARENA_DIR, ENVIRONMENT, HISTORY_TARGET, TEAM_DIR, WORK_DIR, agent_command
from tasks.sandbox.limits import SandboxLimits
from tasks.sandbox.protocol import SandboxUnavailable, tail_text

BATTERY_SIM = str(Path(battery_sim.__file__).resolve().parent)
JAIL = str(Path(__file__).with_name("jail.py"))
NOT_ISOLATED = ("the process sandbox is not a container: team code runs on this machine's kernel, "
                "jailed by namespaces and rlimits only; use Docker for untrusted code (SECURITY.md)")
# Per-run uids when arena is root: far above any real account, one per run.
_RUN_UIDS = (2_000_000_000, 2_100_000_000)


def _processes() -> list[tuple[int, int]]:
    """(pid, real uid) of every process this machine shows."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                found.append((int(entry.name), entry.stat().st_uid))
            except OSError:
                pass
    return found


def _user_process_count() -> int:
    uid = os.getuid()
    return sum(1 for _, owner in _processes() if owner == uid)


# uids handed to runs of this process that have not closed yet. Two runs starting together both
# see the other's uid still free in /proc (neither has dropped to it yet), and the evaluator seeds
# the global `random` with the trial seed before it creates a policy, so every team of a round
# drew the same "random" uid: the first run to close then SIGKILLed the other's processes.
_RESERVED: set[int] = set()
_RESERVED_LOCK = threading.Lock()
_UID_SOURCE = random.SystemRandom()  # not the global generator: trial seeds must not choose uids


def _fresh_uid() -> int:
    with _RESERVED_LOCK:
        taken = {owner for _, owner in _processes()} | _RESERVED
        while True:
            uid = _UID_SOURCE.randrange(*_RUN_UIDS)
            if uid not in taken:
                _RESERVED.add(uid)
                return uid


def _release_uid(uid: int) -> None:
    with _RESERVED_LOCK:
        _RESERVED.discard(uid)


def kill_uid(uid: int) -> None:
    """SIGKILL every process of a run's own uid (the namespace dies with its pid 1; this is the
    second lock on the same door)."""
    for pid, owner in _processes():
        if owner == uid:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def readable_copy(team_dir: str, into: str) -> str:
    """The team's tree copied for a run's own uid: folders 0755, files 0644 (0755 if executable),
    links kept as links, .git left out. The original may be private to arena's user (a tmp_path,
    an organiser's home), and the copy also cannot change under a running policy."""
    target = os.path.join(into, "team")
    shutil.copytree(team_dir, target, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    for folder, _dirs, files in os.walk(target):
        os.chmod(folder, 0o755)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, 0o755 if os.stat(path).st_mode & 0o100 else 0o644)
    return target


def _python_dirs() -> list[str]:
    """Where this interpreter and its packages live; bound read-only at the same paths."""
    dirs: set[str] = set()
    for path in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        dirs.update({os.path.abspath(path), os.path.realpath(path)})
    covered = ("/usr/", "/lib/", "/lib64/", "/bin/", "/sbin/")
    return sorted(d for d in dirs if not (d + "/").startswith(covered) and d != "/")


def _read_status(fd: int, deadline: float) -> str | None:
    """jail.py's one line: "ok", or why the jail could not be built; None if it never came."""
    data = b""
    while not data.endswith(b"\n") and len(data) < 4096:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip() or None


class _CappedLog:
    """Keeps the last `cap` bytes a stream produced (a reader thread drains it)."""

    def __init__(self, stream: Any, cap: int):
        self._stream, self._cap = stream, cap
        self._data = bytearray()
        self.dropped = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain, name="arena-sandbox-log", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        read = self._stream.read1 if hasattr(self._stream, "read1") else self._stream.read
        while True:
            try:
                chunk = read(1 << 16)
            except (OSError, ValueError):
                return
            if not chunk:
                return
            with self._lock:
                self._data += chunk
                excess = len(self._data) - self._cap
                if excess > 0:
                    del self._data[:excess]
                    self.dropped += excess

    def text(self) -> bytes:
        with self._lock:
            return bytes(self._data)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def settle(self, timeout: float = 0.5) -> None:
        """Let the reader thread catch up with what the process already wrote: a tail asked for
        right after an answer must hold the lines printed before that answer."""
        deadline = time.monotonic() + timeout
        try:
            fd = self._stream.fileno()
        except (OSError, ValueError):
            return
        while time.monotonic() < deadline:
            try:
                pending, _, _ = select.select([fd], [], [], 0)
            except (OSError, ValueError):
                return
            if not pending:
                time.sleep(0.01)  # the last chunk read may still be on its way into the buffer
                return
            time.sleep(0.005)


class ProcessRuntime:
    name = "process"
    history_target = HISTORY_TARGET

    def __init__(self, team_dir: Path | str, limits: SandboxLimits, *, python: str | None = None):
        self.team_dir = str(Path(team_dir).resolve())
        self.limits = limits
        self.python = python or sys.executable
        self.proc: subprocess.Popen | None = None
        self.log: _CappedLog | None = None
        self.uid: int | None = None
        self._root: str | None = None
        self._copies: str | None = None

    def spec(self, history_dir: Path) -> dict[str, Any]:
        """What jail.py builds: no data path and nothing of the host beyond what the agent needs."""
        limits = self.limits
        as_root = os.geteuid() == 0
        self.uid = _fresh_uid() if as_root else None
        team_dir = readable_copy(self.team_dir, self._copies) if as_root else self.team_dir
        nproc = limits.pids_limit if as_root else _user_process_count() + limits.pids_limit
        cpu = int(math.ceil(limits.run_timeout_s)) + 1
        return {
            "root": self._root,
            "uid": self.uid,
            "python_dirs": _python_dirs(),
            "binds": [(team_dir, TEAM_DIR), (BATTERY_SIM, f"{ARENA_DIR}/battery_sim"),
                      (str(history_dir / "history.csv"), HISTORY_TARGET)],
            "work_dir": WORK_DIR,
            "cwd": TEAM_DIR,
            "agent": f"{ARENA_DIR}/battery_sim/agent.py",
            "tmpfs_bytes": limits.tmpfs_bytes,
            "rlimits": {"RLIMIT_AS": limits.memory_bytes, "RLIMIT_CPU": cpu, "RLIMIT_FSIZE": limits.tmpfs_bytes,
                        "RLIMIT_CORE": 0, "RLIMIT_NPROC": nproc},
            "command": agent_command(self.python),
            "environment": dict(ENVIRONMENT),
        }

    def start(self, history_dir: Path, deadline: float) -> tuple[int, int]:
        unshare = shutil.which("unshare", path="/usr/bin:/bin:/usr/sbin:/sbin")
        if unshare is None:
            raise SandboxUnavailable("the process sandbox needs util-linux's `unshare`, which is not installed")
        self._root = tempfile.mkdtemp(prefix="arena-jail-")
        self._copies = tempfile.mkdtemp(prefix="arena-jail-team-")
        os.chmod(self._copies, 0o755)
        spec = self.spec(history_dir)
        namespaces = ["--pid", "--mount", "--net", "--ipc", "--uts"]  # jail.py forks pid 1 itself
        if self.uid is None:
            namespaces[:0] = ["--user", "--map-root-user"]
        status_read, status_write = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [unshare, *namespaces, sys.executable, "-I", JAIL, str(status_write), json.dumps(spec)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/",
                env={"PATH": "/usr/bin:/bin"}, start_new_session=True, pass_fds=(status_write,),
            )
        finally:
            os.close(status_write)
        self.log = _CappedLog(self.proc.stderr, self.limits.log_cap_bytes)
        try:
            status = _read_status(status_read, deadline)
        finally:
            os.close(status_read)
        if status != "ok":
            self.kill()
            why = status or (tail_text(self.log.text(), 5) if self._settled() else None) or "unshare failed"
            raise SandboxUnavailable(f"the process sandbox did not start: {why}")
        return self.proc.stdout.fileno(), self.proc.stdin.fileno()

    def _settled(self) -> bool:
        assert self.proc is not None and self.log is not None
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return False
        self.log.join(1.0)
        return True

    def exit_reason(self) -> tuple[str, int | None, bool]:
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "stopped answering", None, False
        if code < 0:
            name = signal.Signals(-code).name
            if -code == signal.SIGXCPU:
                return f"used up its CPU time ({name})", code, False
            return f"was killed by {name}", code, False
        return f"exited with code {code}", code, False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # unshare: pid 1 and its namespace follow
            except (ProcessLookupError, PermissionError):
                pass
        if self.uid is not None:
            kill_uid(self.uid)

    def logs_tail(self, lines: int) -> str | None:
        if self.log is None:
            return None
        if self.proc is not None and self.proc.poll() is not None:
            self.log.join(1.0)
        else:
            self.log.settle()
        return tail_text(self.log.text(), lines)

    def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=1.0)  # after "end" the agent exits by itself
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # and whatever it started
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        if self.uid is not None:
            kill_uid(self.uid)
            _release_uid(self.uid)
        for folder in (self._root, self._copies):  # the root is an empty mount point: its tmpfs was the namespace's
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        if self.log is not None:
            self.log.join(1.0)
        try:
            self.proc.stderr.close()
        except OSError:
            pass
