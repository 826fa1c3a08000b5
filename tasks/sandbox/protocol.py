"""Host side of the agent's JSON-lines protocol (battery_sim/agent.py), the typed failures,
and `SandboxPolicy`: the PolicyHandle the evaluator drives, whatever runs the agent.

Time limits come in pairs: the agent's own timer raises inside the team's code at the limit
(cooperative: the traceback shows where it was stuck), and arena kills the sandbox when no
answer came a grace later (`step_grace_s`, `startup_grace_s`) (hard: a policy that swallows the timer or hangs in C code).
Start-up (start → init → load_historical) and the whole run have their own deadlines.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import random
import select
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, NoReturn, Protocol

import numpy as np

from arena.text import ERROR_MAX, TRACEBACK_MAX, one_line, plain_text
from battery_sim.agent import STATE_KEYS
from battery_sim.errors import PlatformFailure, PolicyError
from battery_sim.observation import Observation, row_of
from battery_sim.teamcode import PolicyConfig
from tasks.sandbox.limits import SandboxLimits

MAX_LINE_BYTES = 1 << 20
HISTORY_NAME = "history.csv"


class StartupTimeout(PolicyError):
    """No answer to init/history within the start-up limit."""


class StepTimeout(PolicyError):
    """act() took longer than the per-interval limit."""


class RunTimeout(PolicyError):
    """The whole run took longer than its limit."""


class MemoryLimit(PolicyError):
    """The policy used more memory than allowed."""


class ProcessLimit(PolicyError):
    """The policy started more processes or threads than allowed."""


class PolicyCrashed(PolicyError):
    """The team's code raised, or its process died."""


class ProtocolError(PolicyError):
    """The sandbox said something that is not a protocol answer."""


class SnapshotRefused(Exception):
    """The policy's state could not be saved or restored (not picklable, over the budget, a
    restore that raised): no failure of anyone's; the live run replays the window instead."""


class SandboxUnavailable(PlatformFailure):
    """arena's side failed (no engine, no image): not the team's fault."""


class Runtime(Protocol):
    """What a backend provides: somewhere the agent runs, and the two ends of its stream."""

    name: str
    history_target: str  # where the agent finds the history file

    def start(self, history_dir: Path, deadline: float) -> tuple[int, int]:
        """Start the agent with `history_dir/history.csv` visible at `history_target`;
        return (read_fd, write_fd) once it is connected. May raise StartupTimeout."""

    def exit_reason(self) -> tuple[str, int | None, bool]:
        """After the stream closed: (what happened, exit code, killed for memory)."""

    def kill(self) -> None: ...

    def logs_tail(self, lines: int) -> str | None: ...

    def close(self) -> None: ...


class Channel:
    """Newline-delimited lines over a pair of fds, with deadlines (poll + os.read)."""

    __slots__ = ("_rfd", "_wfd", "_buf", "_poll")

    def __init__(self, read_fd: int, write_fd: int):
        self._rfd, self._wfd = read_fd, write_fd
        self._buf = b""
        self._poll = select.poll()
        self._poll.register(read_fd, select.POLLIN | select.POLLHUP | select.POLLERR)

    def send(self, data: bytes) -> None:
        n = os.write(self._wfd, data)  # one write per request, unless the pipe or socket is full
        while n < len(data):
            data = data[n:]
            n = os.write(self._wfd, data)

    def receive(self, deadline: float, limit: int = MAX_LINE_BYTES) -> bytes | None:
        """One line (without newline); None when the deadline passed; EOFError when closed.
        `limit`: the longest line accepted (wider only for a checkpoint's answer)."""
        buf = self._buf
        while True:
            end = buf.find(b"\n")
            if end >= 0:
                self._buf = buf[end + 1:]
                return buf[:end]
            if len(buf) > limit:
                raise ProtocolError(f"the sandbox sent a line longer than {limit} bytes")
            left = deadline - time.monotonic()
            if left <= 0 or not self._poll.poll(max(1, int(left * 1000 + 0.999))):
                if time.monotonic() >= deadline:
                    self._buf = buf
                    return None
                continue
            chunk = os.read(self._rfd, 1 << 16)
            if not chunk:
                self._buf = buf
                raise EOFError
            buf = buf + chunk if buf else chunk

    @property
    def pending(self) -> bool:
        return bool(self._buf)


# The compact act's row: a JSON array (repr floats, NaN/Infinity, text, null), one encoder for all.
_encode_row = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def compact_act(values: list) -> bytes:
    """The line of a compact act (battery_sim/agent.py): the row's values, then the internal state's."""
    return _encode_row(values).encode() + b"\n"


def _number(token: bytes) -> int | float:
    if token.isdigit() or token[:1] == b"-" and token[1:].isdigit():
        return int(token)  # ValueError past Python's 4300 digits: a protocol error like any other
    return float(token)


def compact_reply(line: bytes) -> list:
    """The action of a compact answer `s,g`; ValueError when the line is not one."""
    solar, grid = line.split(b",")
    return [_number(solar), _number(grid)]


def tail_text(raw: bytes, lines: int, max_chars: int = 8000) -> str | None:
    """The last `lines` lines, at most `max_chars` characters, as text."""
    text = raw.decode("utf-8", "replace")
    kept = "\n".join(text.splitlines()[-lines:])
    if len(kept) > max_chars:
        kept = "..." + kept[-max_chars:]
    return kept or None


# ---- what a dying arena must still clean up ---------------------------------------------
_live: dict[int, SandboxPolicy] = {}
_live_lock = threading.Lock()
_hooks_installed = False


def live_runs() -> list[SandboxPolicy]:
    with _live_lock:
        return list(_live.values())


def close_all_runs() -> None:
    """Close every open sandbox of this process (containers removed, processes killed)."""
    for run in live_runs():
        try:
            run.close()
        except Exception:
            pass


def _on_signal(signum: int, frame: Any, previous: Any) -> None:
    close_all_runs()
    if callable(previous):
        previous(signum, frame)  # e.g. Python's SIGINT handler: KeyboardInterrupt as usual
    elif previous != signal.SIG_IGN:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_hooks() -> None:
    """atexit always; SIGTERM/SIGINT handlers when called from the main thread (the only
    place Python allows them); they chain to whatever handler was there before."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(close_all_runs)
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        signal.signal(signum, lambda s, f, p=previous: _on_signal(s, f, p))


def _rng_state() -> dict[str, Any]:
    """This process's random state, so the agent continues exactly where arena's own
    process would (the evaluator seeds both generators right before calling the factory)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"random": [version, list(internal), gauss],
            "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]}


def _plain_obs(external_state: Any) -> dict:
    to_dict = getattr(external_state, "to_dict", None)
    return to_dict() if callable(to_dict) else dict(external_state)


class SandboxPolicy:
    """A team's policy running behind the agent in `runtime`. Starts on load_historical
    (the history file is mounted at start), or on the first act() if that comes first."""

    def __init__(
        self,
        runtime: Runtime,
        config: PolicyConfig,
        limits: SandboxLimits,
        *,
        seed: int | None = None,
        capture_rng: bool = True,
    ):
        self.runtime = runtime
        self.config = config
        self.limits = limits
        self.seed = seed
        self._rng = _rng_state() if capture_rng and seed is None else None
        self._channel: Channel | None = None
        self._compact_columns: Any = None  # the column lists the agent knows the order of
        self._failure: PolicyError | None = None
        self._run_deadline = 0.0
        self._tail: str | None = None
        self._closed = False
        self._tmp = tempfile.TemporaryDirectory(prefix="arena-run-")
        _install_hooks()
        with _live_lock:
            _live[id(self)] = self
        self.steps = 0
        self.started_at: float | None = None
        self.ready_at: float | None = None

    # ---- PolicyHandle -------------------------------------------------------------------
    def load_historical(self, external_states: Any) -> None:
        self._start(external_states)

    def act(self, external_state: Any, internal_state: dict) -> Any:
        if self._channel is None:
            self._start(None)
        if self._closed or self._failure is not None:
            self._check_alive()
        step = self.limits.step_timeout_s
        hard = min(time.monotonic() + step + self.limits.step_grace_s, self._run_deadline)
        # The compact act (agent.py): an evaluator's Observation with the evaluator's state, once
        # one act has named the columns; anything else goes as a JSON object, as it always did.
        compact = type(external_state) is Observation and type(internal_state) is dict \
            and tuple(internal_state) == STATE_KEYS
        if compact:
            columns, row = row_of(external_state)
            if columns is self._compact_columns:
                values = [column[row] for column in columns.values()]
                values += internal_state.values()
                action = self._act_compact(compact_act(values), hard)
                self.steps += 1
                return action
        message = {"op": "act", "obs": _plain_obs(external_state), "state": internal_state}
        if compact:
            message["compact"] = True
        reply = self._exchange(json.dumps(message, separators=(",", ":")).encode() + b"\n", hard, "act()")
        if compact:
            self._compact_columns = columns
        self.steps += 1
        return reply.get("action")

    def checkpoint(self) -> bytes:
        """The policy's state, pickled by the agent inside the sandbox: opaque bytes this host
        never unpickles (SECURITY.md). Raises SnapshotRefused when it cannot be kept."""
        budget = self.limits.checkpoint_max_bytes
        if budget <= 0:
            raise SnapshotRefused("keeping a policy's state between live advances is turned off")
        if self._channel is None:
            raise SnapshotRefused("the policy never started")
        self._check_alive()
        limit = (budget + 2) // 3 * 4 + 4096  # base64 of the budget, plus the JSON around it
        seconds = self.limits.startup_timeout_s
        message = {"op": "checkpoint", "max_bytes": budget, "timeout": seconds}
        deadline = time.monotonic() + seconds + self.limits.startup_grace_s
        reply = self._exchange(json.dumps(message).encode() + b"\n", deadline, "saving its state", limit=limit,
                               refusable=True)
        blob = reply.get("blob")
        try:  # the team's answer: checked here, then kept as bytes only
            data = base64.b64decode(blob if isinstance(blob, str) else "", validate=True)
        except (ValueError, TypeError):
            data = b""
        if not data or len(data) > budget:
            raise SnapshotRefused("the sandbox's saved state was empty, malformed or over the budget")
        return data

    def restore(self, blob: bytes) -> None:
        """Start the sandbox from a saved state instead of init + load_historical. Raises
        SnapshotRefused when the agent could not restore it (the caller replays instead)."""
        self._start(None, blob=blob)

    def _act_compact(self, data: bytes, deadline: float) -> Any:
        line = self._send_receive(data, deadline, "act()")
        if line[:1] == b"{":
            return self._reply(line, "act()").get("action")
        try:
            action = compact_reply(line)
        except ValueError:
            self._fail(ProtocolError(f"the sandbox answered {line[:80]!r} to act(), not a protocol line"))
        if self._channel.pending:
            self._fail(ProtocolError("the sandbox sent more than one answer to act()"))
        return action

    def logs_tail(self) -> str | None:
        if self._tail is None and not self._closed:
            self._tail = self.runtime.logs_tail(self.limits.log_tail_lines)
        return self._tail or None

    def close(self) -> None:
        if self._closed:
            return
        try:
            if self._channel is not None and self._failure is None:
                try:
                    self._channel.send(b'{"op":"end"}\n')
                    self._channel.receive(time.monotonic() + 1.0)
                except (OSError, EOFError, PolicyError):
                    pass
            if self._tail is None:
                self._tail = self.runtime.logs_tail(self.limits.log_tail_lines)
        finally:
            self._closed = True
            with _live_lock:
                _live.pop(id(self), None)
            try:
                self.runtime.close()
            finally:
                self._tmp.cleanup()

    def __enter__(self) -> SandboxPolicy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- lifecycle ----------------------------------------------------------------------
    def _start(self, history: Any, blob: bytes | None = None) -> None:
        if self._channel is not None:
            raise PolicyError("load_historical() may be called only once, before the first interval")
        self._check_alive()
        folder = Path(self._tmp.name)
        os.chmod(folder, 0o755)
        path = folder / HISTORY_NAME
        if history is not None:
            history.to_csv(path, index=False)
        else:
            path.write_text("timestamp,price\n")
        os.chmod(path, 0o444)
        limits = self.limits
        self.started_at = now = time.monotonic()
        self._run_deadline = now + limits.run_timeout_s
        startup = min(now + limits.startup_timeout_s, self._run_deadline)
        try:
            read_fd, write_fd = self.runtime.start(folder, startup)
        except PolicyError as exc:
            self._fail(exc)
        self._channel = Channel(read_fd, write_fd)
        if blob is not None:
            restore = {"op": "restore", "class_name": self.config.class_name,
                       "blob": base64.b64encode(blob).decode("ascii"), "step_timeout": limits.step_timeout_s,
                       "startup_timeout": max(0.001, startup - time.monotonic())}
            self._exchange(json.dumps(restore).encode() + b"\n", startup + limits.startup_grace_s,
                           "restoring its state", refusable=True)
            self.ready_at = time.monotonic()
            return
        init = {"op": "init", "class_name": self.config.class_name, "parameters": self.config.parameters,
                "seed": self.seed, "rng_state": self._rng, "step_timeout": limits.step_timeout_s,
                "startup_timeout": max(0.001, startup - time.monotonic())}
        self._exchange(json.dumps(init).encode() + b"\n", startup + limits.startup_grace_s, "start-up")
        message = {"op": "history", "path": self.runtime.history_target}
        self._exchange(json.dumps(message).encode() + b"\n", startup + limits.startup_grace_s, "load_historical()")
        self.ready_at = time.monotonic()

    def _check_alive(self) -> None:
        if self._closed:
            raise PolicyError("the sandbox is closed")
        if self._failure is not None:
            raise PolicyError(f"the policy already failed: {self._failure}")

    def _fail(self, exc: PolicyError) -> NoReturn:
        if exc.logs_tail is None:
            try:
                self._tail = self.runtime.logs_tail(self.limits.log_tail_lines)
            except Exception:
                self._tail = None
            exc.logs_tail = self._tail
        self._failure = exc
        try:
            self.runtime.kill()
        except Exception:
            pass
        raise exc

    def _exchange(self, data: bytes, deadline: float, where: str, *, limit: int = MAX_LINE_BYTES,
                  refusable: bool = False) -> dict:
        return self._reply(self._send_receive(data, deadline, where, limit), where, refusable)

    def _send_receive(self, data: bytes, deadline: float, where: str, limit: int = MAX_LINE_BYTES) -> bytes:
        channel = self._channel
        assert channel is not None
        try:
            channel.send(data)
            line = channel.receive(deadline, limit)
        except (EOFError, BrokenPipeError, ConnectionResetError):
            self._fail(self._died(where))
        except ProtocolError as exc:
            self._fail(exc)
        if line is None:
            self._fail(self._timed_out(where))
        return line

    def _reply(self, line: bytes, where: str, refusable: bool = False) -> dict:
        try:
            reply = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested past Python's stack
            reply = None
        if not isinstance(reply, dict) or "ok" not in reply:
            self._fail(ProtocolError(f"the sandbox answered {line[:80]!r} to {where}, not a protocol line"))
        ok = reply["ok"]
        if self._channel.pending:
            self._fail(ProtocolError(f"the sandbox sent more than one answer to {where}"))
        if ok is True:
            return reply
        if refusable and reply.get("kind") == "snapshot":
            raise SnapshotRefused(one_line(reply.get("error") or "refused", ERROR_MAX))
        self._fail(self._reported(reply, where))

    # ---- diagnostics --------------------------------------------------------------------
    def _reported(self, reply: dict, where: str) -> PolicyError:
        # Every field of a failure answer is the team's to forge (the agent runs beside its code):
        # whatever it holds, it ends as bounded text in a PolicyError, never as an exception here.
        kind = reply.get("kind") if isinstance(reply.get("kind"), str) else None
        error = one_line(reply.get("error") or "failed", ERROR_MAX)
        tb = plain_text(reply.get("traceback"), TRACEBACK_MAX) or None
        limits = self.limits
        if kind == "timeout":
            if where == "act()":
                if time.monotonic() >= self._run_deadline - 0.05:
                    return RunTimeout(self._run_message(), traceback_text=tb)
                return StepTimeout(self._step_message(), traceback_text=tb)
            return StartupTimeout(self._startup_message(where), traceback_text=tb)
        if kind == "config":
            return PolicyCrashed(f"bot/ setup: {error}")
        if error.startswith("MemoryError"):
            return MemoryLimit(f"memory limit of {limits.memory} reached in {where}: {error}", traceback_text=tb)
        if error.startswith("BlockingIOError") or "can't start new thread" in error:
            return ProcessLimit(
                f"process/thread limit of {limits.pids_limit} reached in {where}: {error}", traceback_text=tb)
        if where == "start-up":
            where = f"loading {self.config.class_name} (import or __init__)"
        return PolicyCrashed(f"{where} raised {error}", traceback_text=tb)

    def _died(self, where: str) -> PolicyError:
        what, code, oom = self.runtime.exit_reason()
        if oom:
            return MemoryLimit(f"memory limit of {self.limits.memory} exceeded during {where}: the policy was killed")
        if time.monotonic() >= self._run_deadline:
            return RunTimeout(self._run_message())
        return PolicyCrashed(f"the policy's process {what} during {where}")

    def _timed_out(self, where: str) -> PolicyError:
        self.runtime.kill()
        if time.monotonic() >= self._run_deadline - 0.01:
            return RunTimeout(self._run_message())
        if where == "act()":
            return StepTimeout(self._step_message() + "; it did not stop, so the sandbox was killed")
        return StartupTimeout(self._startup_message(where) + "; it did not stop, so the sandbox was killed")

    def _step_message(self) -> str:
        return f"step time limit: act() took longer than {self.limits.step_timeout_s:g} s"

    def _startup_message(self, where: str) -> str:
        return (f"start-up time limit: the policy was not ready within {self.limits.startup_timeout_s:g} s "
                f"(stuck in {where}; imports, __init__ and load_historical count)")

    def _run_message(self) -> str:
        return (f"run time limit: the whole run took longer than {self.limits.run_timeout_s:g} s "
                f"({self.steps} intervals done)")
