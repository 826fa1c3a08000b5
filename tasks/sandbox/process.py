"""The `process` backend: the same agent and protocol in a subprocess under rlimits.

For laptops without Docker. rlimits bound memory (RLIMIT_AS), CPU seconds (RLIMIT_CPU),
file size (RLIMIT_FSIZE) and, for a non-root user, processes (RLIMIT_NPROC; it counts all of
the user's processes, so it is set to what the user runs now plus the limit; root ignores it).
It is NOT a security boundary: no network or filesystem isolation. The protocol runs over the
child's stdin/stdout pipes; the agent moves team output to stderr, which a reader thread keeps,
capped to the last `log_cap_bytes`.
"""

from __future__ import annotations

import math
import os
import resource
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import battery_sim
from tasks.sandbox.limits import SandboxLimits
from tasks.sandbox.protocol import tail_text

ARENA_ROOT = str(Path(battery_sim.__file__).resolve().parents[1])


def _user_process_count() -> int:
    uid, count = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


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

    def __init__(self, team_dir: Path | str, limits: SandboxLimits, *, python: str | None = None):
        self.team_dir = str(Path(team_dir).resolve())
        self.limits = limits
        self.python = python or sys.executable
        self.proc: subprocess.Popen | None = None
        self.log: _CappedLog | None = None
        self.history_target = ""
        self._killed = False

    def _preexec(self, nproc: int | None) -> Any:
        limits = self.limits
        memory, fsize = limits.memory_bytes, limits.tmpfs_bytes
        cpu = int(math.ceil(limits.run_timeout_s)) + 1

        def apply() -> None:  # runs in the child between fork and exec: setrlimit calls only
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if nproc is not None:
                resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))

        return apply

    def start(self, history_dir: Path, deadline: float) -> tuple[int, int]:
        self.history_target = str(history_dir / "history.csv")
        nproc = None if os.getuid() == 0 else _user_process_count() + self.limits.pids_limit
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(history_dir),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": ARENA_ROOT,
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        self.proc = subprocess.Popen(
            [self.python, "-m", "battery_sim.agent", "--team-dir", self.team_dir],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=str(history_dir), env=env, start_new_session=True, close_fds=True,
            preexec_fn=self._preexec(nproc),
        )
        self.log = _CappedLog(self.proc.stderr, self.limits.log_cap_bytes)
        return self.proc.stdout.fileno(), self.proc.stdin.fileno()

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
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: children go too
            except (ProcessLookupError, PermissionError):
                pass
            self._killed = True

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
