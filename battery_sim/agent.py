"""The in-container agent: runs one team's policy and speaks JSON lines with arena.

    python -m battery_sim.agent [--connect SOCKET] [--team-dir DIR]

Without `--connect` the protocol runs over stdin/stdout; with it, over a Unix socket that
arena listens on (a bind-mounted folder, which works with no network at all). Either way
the team's code never sees the protocol stream: the agent first moves it to private file
descriptors, points fd 0 at /dev/null and fd 1 (and `sys.stdout`) at stderr, so a print, a
C extension or a child process writing to stdout lands in the team's log, not in a reply.

Messages (one JSON object per line; NaN and Infinity travel as JSON's Python literals):

    arena -> agent                                            agent -> arena
    {"op": "init", "class_name", "parameters", "seed",         {"ok": true}
     "rng_state", "step_timeout", "startup_timeout"}
    {"op": "history", "path": "/data/history.csv"}             {"ok": true}
    {"op": "act", "obs": {...}, "state": {...}}                {"ok": true, "action": [s, g]}
    {"op": "act", ..., "compact": true}                        (the same)
    [v1, ..., vk, total_profit, profit_delta, battery_soc,      s,g   (or any answer above)
     max_charge_rate, remaining_steps]
    {"op": "checkpoint", "max_bytes", "timeout"}               {"ok": true, "blob": base64}
    {"op": "restore", "class_name", "blob", "step_timeout",    {"ok": true}
     "startup_timeout"}   (instead of init + history)
    {"op": "end"}                                              {"ok": true}, then exit 0

`checkpoint` pickles (the policy, random's and numpy's states) here, inside the sandbox
(battery_sim/snapshot.py); `restore` unpickles a blob arena kept for this team and commit and
continues from it. Neither ends the run when it cannot be done: the answer is {"ok": false,
"kind": "snapshot", "error": why} and arena replays the window instead.

The compact act is the hot path: once an act marked "compact" has named the columns (its obs's
keys, in order), each further interval is one JSON array of the row's values in that order and
the five numbers of the internal state (STATE_KEYS), so neither side builds a dict to send it.
Its answer, when the policy returned two plain numbers (int or float), is their two reprs with a
comma between (`0,10`, `nan,-0.0`): exact, and parsed on the host with int()/float(); anything
else (a failure, an action of another shape) is answered with the JSON object as before.

A failure of the team's code is answered with {"ok": false, "kind": "crash" | "config" |
"timeout", "error": one line, "traceback": text}; after it the agent only says goodbye.
Time limits are cooperative here (a SIGALRM that raises inside the team's code, so the
traceback shows where it was stuck); arena enforces the hard limit by killing the sandbox.

Stdlib + pandas (read lazily, for the history file) only; works with pandas 1.5 to 3.x.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sys
import time
import traceback
from typing import Any, BinaryIO

from battery_sim.teamcode import TeamCodeError, load_policy_class

MAX_REPLY_BYTES = 64 * 1024
# The internal state's keys, in the order the compact act sends their values (teams read these names).
STATE_KEYS = ("total_profit", "profit_delta", "battery_soc", "max_charge_rate", "remaining_steps")
_COMPACT_INT = 1 << 53  # ints beyond this go as JSON (a repr of a huge int is slow or refused)
_HERE = os.path.dirname(os.path.abspath(__file__))


class _Deadline(BaseException):
    """Raised inside the team's code by the cooperative timer (BaseException, so a bare
    `except Exception` in the policy does not swallow it)."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Deadline()


class _Stream:
    """The protocol's private line stream: a reader and a raw writer on private fds."""

    def __init__(self, reader: BinaryIO, write_fd: int, keep: Any = None):
        self._reader = reader
        self._fd = write_fd
        self._keep = keep  # the socket, so it is not collected
        self._pid = os.getpid()

    def read(self) -> dict | None:
        line = self._reader.readline()
        if not line:
            return None
        return json.loads(line)

    def readline(self) -> bytes:
        """The next request as bytes (b"" at the end)."""
        return self._reader.readline()

    def write(self, message: dict) -> None:
        self.write_raw(_encode(message))

    def write_raw(self, data: bytes) -> None:
        if os.getpid() != self._pid:  # a child the team forked came back here: it must not answer
            os._exit(70)
        n = os.write(self._fd, data)
        while n < len(data):  # one write unless the socket's buffer is full
            data = data[n:]
            n = os.write(self._fd, data)


def _plain(value: Any) -> Any:
    """JSON fallback for what a policy may return: numpy scalars and arrays, anything else as repr."""
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except Exception:
            pass
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        try:
            return tolist()
        except Exception:
            pass
    if isinstance(value, (set, frozenset)):
        return list(value)
    return repr(value)


def compact_action(action: Any) -> bytes | None:
    """`s,g` for an action of two plain numbers (the reprs round-trip exactly), else None."""
    if (type(action) is tuple or type(action) is list) and len(action) == 2:
        solar, grid = action
        if (type(solar) is float or type(solar) is int and -_COMPACT_INT < solar < _COMPACT_INT) and (
                type(grid) is float or type(grid) is int and -_COMPACT_INT < grid < _COMPACT_INT):
            return b"%r,%r\n" % (solar, grid)
    return None


def _encode(message: dict) -> bytes:
    try:
        text = json.dumps(message, separators=(",", ":"), default=_plain)
    except (ValueError, TypeError, RecursionError):
        message = dict(message, action=repr(message.get("action"))[:200])
        text = json.dumps(message, separators=(",", ":"), default=_plain)
    if len(text) > MAX_REPLY_BYTES and "action" in message:
        message = dict(message, action=repr(message["action"])[:200] + "...")
        text = json.dumps(message, separators=(",", ":"), default=_plain)
    return text.encode() + b"\n"


def _claim_stdio(connect: str | None) -> _Stream:
    """Move the protocol off fds 0/1 before any team code runs."""
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_RDONLY)
    if connect:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(connect)
        reader = sock.makefile("rb")
        stream = _Stream(reader, sock.fileno(), keep=sock)
    else:
        read_fd = os.dup(0)  # os.dup makes non-inheritable fds: child processes do not get them
        write_fd = os.dup(1)
        stream = _Stream(os.fdopen(read_fd, "rb"), write_fd)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    sys.stdin = open(os.devnull)
    return stream


def _team_traceback(exc: BaseException) -> str:
    """The traceback without the agent's own frames at the top."""
    tb = exc.__traceback__
    while tb is not None and os.path.dirname(os.path.abspath(tb.tb_frame.f_code.co_filename)) == _HERE:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _seed(seed: Any, rng_state: Any) -> None:
    """Make the team's randomness what it would be in arena's own process."""
    try:
        import numpy as np  # noqa: PLC0415 - numpy and pandas load only when the team's run needs them
    except ImportError:  # pragma: no cover - numpy comes with pandas
        np = None
    if rng_state:
        version, internal, gauss = rng_state["random"]
        random.setstate((version, tuple(internal), gauss))
        if np is not None and rng_state.get("numpy"):
            name, keys, pos, has_gauss, cached = rng_state["numpy"]
            np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    elif seed is not None:
        random.seed(seed)
        if np is not None:
            np.random.seed(seed % 2**32)


def _not_kept(reply: dict) -> dict:
    error = reply["error"]
    return {"ok": False, "kind": "snapshot",
            "error": error.partition(": ")[2] if error.startswith("SnapshotError: ") else error}


class Agent:
    def __init__(self, stream: _Stream, team_dir: str):
        self.stream = stream
        self.team_dir = team_dir
        self.policy: Any = None
        self.step_timeout = 0.0
        self.startup_deadline = 0.0
        self.failed = False
        self.columns: dict[str, int] | None = None  # name -> position in a compact act's row
        self.width = 0

    # One call into the team's code, under the cooperative timer.
    def _guarded(self, seconds: float, fn: Any, *args: Any) -> dict:
        if seconds > 0:
            signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return {"ok": True, "action": fn(*args)} if fn is not None else {"ok": True}
        except _Deadline:
            self.failed = True
            return {"ok": False, "kind": "timeout", "error": "time limit reached",
                    "traceback": _team_traceback(sys.exc_info()[1])}
        except TeamCodeError as exc:
            self.failed = True
            return {"ok": False, "kind": "config", "error": str(exc), "traceback": None}
        except BaseException as exc:  # the team's failure (even SystemExit): reported, never fatal here
            self.failed = True
            return {"ok": False, "kind": "crash", "error": _one_line(exc), "traceback": _team_traceback(exc)}
        finally:
            if seconds > 0:
                signal.setitimer(signal.ITIMER_REAL, 0)

    def init(self, message: dict) -> dict:
        self.step_timeout = float(message.get("step_timeout") or 0)
        self.startup_deadline = time.monotonic() + float(message.get("startup_timeout") or 0)
        _seed(message.get("seed"), message.get("rng_state"))

        def construct() -> None:
            cls = load_policy_class(self.team_dir, message["class_name"])
            self.policy = cls(**(message.get("parameters") or {}))

        reply = self._guarded(self._startup_left(), construct)
        reply.pop("action", None)
        return reply

    def _startup_left(self) -> float:
        return max(0.001, self.startup_deadline - time.monotonic())

    def history(self, message: dict) -> dict:
        import pandas as pd  # noqa: PLC0415 - see above: the history is the first thing that needs pandas

        path = message.get("path")
        if path:
            # Exact floats: pandas 3 parses them exactly by default (and deprecates the option).
            exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
            frame = pd.read_csv(path, **exact)
        else:
            frame = pd.DataFrame(columns=message.get("columns") or ["timestamp", "price"])
        reply = self._guarded(self._startup_left(), self.policy.load_historical, frame)
        reply.pop("action", None)
        return reply

    def checkpoint(self, message: dict) -> dict:
        import base64  # noqa: PLC0415 - only a live run's last answer needs these

        from battery_sim import snapshot  # noqa: PLC0415

        if self.policy is None:
            return {"ok": False, "kind": "snapshot", "error": "no policy to save"}
        seconds = float(message.get("timeout") or 0)
        reply = self._guarded(seconds, snapshot.dump, self.policy, int(message.get("max_bytes") or 0))
        if not reply["ok"]:  # pickling ran the team's code but ended nothing: the run itself succeeded
            self.failed = False
            return _not_kept(reply)
        return {"ok": True, "blob": base64.b64encode(reply["action"]).decode("ascii")}

    def restore(self, message: dict) -> dict:
        import base64  # noqa: PLC0415 - see checkpoint

        from battery_sim import snapshot  # noqa: PLC0415

        self.step_timeout = float(message.get("step_timeout") or 0)
        self.startup_deadline = time.monotonic() + float(message.get("startup_timeout") or 0)

        def restore() -> None:
            load_policy_class(self.team_dir, message["class_name"])  # the team's modules, for the pickle
            self.policy = snapshot.load(base64.b64decode(message["blob"], validate=True), self.team_dir)

        reply = self._guarded(self._startup_left(), restore)
        reply.pop("action", None)
        # Whatever went wrong (a class gone, a pickle that raises or hangs), arena replays the
        # window in a fresh sandbox instead; a replay that fails is then the team's, explained.
        return reply if reply["ok"] else _not_kept(reply)

    def serve(self) -> int:
        from battery_sim.observation import Observation, RowObservation  # noqa: PLC0415 - brings numpy: after init

        readline, write, write_raw, loads = self.stream.readline, self.stream.write, self.stream.write_raw, json.loads
        from_dict = Observation.from_dict
        while True:
            line = readline()
            if not line:
                return 0
            if line[:1] == b"[" and self.columns is not None:  # a compact act: the hot path
                if self.failed:
                    write({"ok": False, "kind": "protocol", "error": "the policy already failed"})
                    continue
                values = loads(line)
                width = self.width
                reply = self._guarded(self.step_timeout, self.policy.act, RowObservation(self.columns, values[:width]),
                                      dict(zip(STATE_KEYS, values[width:], strict=True)))
                data = compact_action(reply["action"]) if reply["ok"] else None
                if data is not None:
                    write_raw(data)
                else:
                    write(reply)
                continue
            message = loads(line)
            op = message.get("op") if isinstance(message, dict) else None
            if self.failed and op != "end":
                write({"ok": False, "kind": "protocol", "error": "the policy already failed"})
                continue
            if op == "act":
                obs = message["obs"]
                if message.get("compact"):  # its keys name the columns of the compact acts that follow
                    self.columns = {name: position for position, name in enumerate(obs)}
                    self.width = len(self.columns)
                reply = self._guarded(self.step_timeout, self.policy.act, from_dict(obs), message["state"])
            elif op == "init":
                reply = self.init(message)
            elif op == "history":
                reply = self.history(message)
            elif op == "checkpoint":
                reply = self.checkpoint(message)
            elif op == "restore":
                reply = self.restore(message)
            elif op == "end":
                write({"ok": True})
                return 0
            else:
                reply = {"ok": False, "kind": "protocol", "error": f"unknown op {op!r}"}
            write(reply)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    connect = None
    team_dir = "/opt/team"
    while argv:
        flag = argv.pop(0)
        if flag == "--connect" and argv:
            connect = argv.pop(0)
        elif flag == "--team-dir" and argv:
            team_dir = argv.pop(0)
        else:
            print(f"agent: unknown argument {flag}", file=sys.stderr)
            return 2
    stream = _claim_stdio(connect)
    signal.signal(signal.SIGALRM, _on_alarm)
    agent = Agent(stream, team_dir)
    while True:
        try:
            return agent.serve()
        except _Deadline:  # the timer fired just as the team's call returned: that call timed out
            agent.failed = True
            stream.write({"ok": False, "kind": "timeout", "error": "time limit reached", "traceback": None})
        except (BrokenPipeError, ConnectionResetError):
            return 0


if __name__ == "__main__":
    sys.exit(main())
