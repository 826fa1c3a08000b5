"""Malformed answers of the sandbox protocol, fed through a real SandboxPolicy: the runtime here
is a stand-in that speaks bytes over a pipe (the agent's side is what a hostile team forges; the
host's side, the unit under test, is real). Every answer ends as a PolicyError with a readable,
bounded message and text traceback, and that error makes a record the store keeps."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from arena.models import SubmissionRecord
from arena.text import ERROR_MAX, TRACEBACK_MAX
from battery_sim.errors import PolicyError
from battery_sim.teamcode import PolicyConfig
from tasks.sandbox.limits import SandboxLimits
from tasks.sandbox.protocol import PolicyCrashed, ProtocolError, SandboxPolicy, StartupTimeout, StepTimeout

OK = b'{"ok": true}'


class PipeRuntime:
    """Answers each request line with the next scripted line, then closes its end."""

    name = "pipe"
    history_target = "/history/history.csv"

    def __init__(self, answers: list[bytes]):
        self.answers = answers
        self.requests: list[bytes] = []
        self._thread: threading.Thread | None = None
        self._ends: list[int] = []

    def start(self, history_dir: Path, deadline: float) -> tuple[int, int]:
        to_host_r, to_host_w = os.pipe()
        to_agent_r, to_agent_w = os.pipe()
        self._ends = [to_host_r, to_agent_w]

        def agent() -> None:
            with os.fdopen(to_agent_r, "rb") as requests, os.fdopen(to_host_w, "wb") as replies:
                for answer in self.answers:
                    line = requests.readline()
                    if not line:
                        return
                    self.requests.append(line)
                    replies.write(answer + b"\n")
                    replies.flush()

        self._thread = threading.Thread(target=agent, daemon=True)
        self._thread.start()
        return to_host_r, to_agent_w

    def exit_reason(self) -> tuple[str, int | None, bool]:
        return "exited with code 1", 1, False

    def kill(self) -> None:
        pass

    def logs_tail(self, lines: int) -> str | None:
        return None

    def close(self) -> None:
        for fd in self._ends:
            try:
                os.close(fd)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)


def _policy(answers: list[bytes]) -> SandboxPolicy:
    limits = SandboxLimits(step_timeout_s=5.0, startup_timeout_s=10.0, run_timeout_s=30.0)
    return SandboxPolicy(PipeRuntime(answers), PolicyConfig("Hold", {}), limits, seed=1)


def _failure(answers: list[bytes], at_act: bool) -> PolicyError:
    policy = _policy(answers)
    try:
        with pytest.raises(PolicyError) as caught:
            policy.load_historical(None)
            if at_act:
                policy.act({"price": 50.0}, {"battery_soc": 7.5})
        return caught.value
    finally:
        policy.close()


def _reply(**fields) -> bytes:
    return json.dumps({"ok": False, **fields}).encode()


HUGE_TEXT = "E" * 900_000
FAILURES = {
    "error-object": (_reply(error={"a": [1, 2]}, traceback={"frames": [1, 2]}), PolicyCrashed, "{'a': [1, 2]}"),
    "error-list": (_reply(error=["ValueError", "x"], traceback=["line 1", "line 2"]), PolicyCrashed, "['ValueError'"),
    "error-number": (_reply(error=12.5, traceback=7), PolicyCrashed, "raised 12.5"),
    "error-huge": (_reply(error=HUGE_TEXT, traceback=HUGE_TEXT[:100_000]), PolicyCrashed, "EEEE"),
    "error-lines": (_reply(error="Boom\n~~~~\n<script>x</script>\r\x00", traceback=None), PolicyCrashed,
                    "Boom ~~~~ <script>x</script>"),
    "kind-object": (_reply(kind={"timeout": True}, error="x"), PolicyCrashed, "raised x"),
    "kind-list-config": (_reply(kind=["config"], error="no class"), PolicyCrashed, "raised no class"),
    "timeout-with-object-traceback": (_reply(kind="timeout", traceback={"where": "act"}), None, "time limit"),
    "config-with-object-error": (_reply(kind="config", error={"x": 1}), PolicyCrashed, "bot/ setup: {'x': 1}"),
    "not-an-object": (b"[1, 2, 3]", ProtocolError, "not a protocol line"),
    "a-string": (b'"ok"', ProtocolError, "not a protocol line"),
    "a-number": (b"5", ProtocolError, "not a protocol line"),
    "null": (b"null", ProtocolError, "not a protocol line"),
    "no-ok": (b'{"okay": true}', ProtocolError, "not a protocol line"),
    "nested-too-deep": (b"[" * 200_000, ProtocolError, "not a protocol line"),
    "not-utf8": (b"\xff\xfe{}", ProtocolError, "not a protocol line"),
    "a-long-integer": (b'{"ok": false, "error": ' + b"9" * 4001 + b"}", PolicyCrashed, "raised 9999"),
    "too-many-digits": (b'{"ok": false, "error": ' + b"9" * 5000 + b"}", ProtocolError, "not a protocol line"),
}


@pytest.mark.parametrize("at_act", [False, True], ids=["at-start-up", "at-act"])
@pytest.mark.parametrize("case", sorted(FAILURES))
def test_malformed_answers_are_readable_policy_errors(case, at_act, store):
    answer, kind, expected = FAILURES[case]
    answers = [OK, OK, answer] if at_act else [answer]
    exc = _failure(answers, at_act)
    if kind is None:  # a timeout: which one depends on where it came
        kind = StepTimeout if at_act else StartupTimeout
    assert type(exc) is kind, (type(exc), str(exc))
    message = str(exc)
    assert expected in message and "\n" not in message and "\x00" not in message
    assert len(message) <= ERROR_MAX + 200
    assert exc.traceback_text is None or (isinstance(exc.traceback_text, str)
                                          and len(exc.traceback_text) <= TRACEBACK_MAX)
    # ... and it makes a record the store keeps and gives back, as the evaluation would write it.
    record = SubmissionRecord(team_id=101, key=f"k-{case}-{at_act}", git_commit_hash="a" * 40, window_start=0,
                              window_end=300, rules="gbh2024-tariff", status="error", error=message,
                              error_traceback=exc.traceback_text, logs_tail=exc.logs_tail)
    store.init()
    store.put_submission(record)
    assert store.get_submission(101, record.key) == record


def test_an_answer_after_the_failure_is_not_read_as_the_next_one():
    policy = _policy([OK, OK, _reply(error={"x": 1})])
    try:
        policy.load_historical(None)
        with pytest.raises(PolicyCrashed):
            policy.act({"price": 1.0}, {})
        with pytest.raises(PolicyError, match="already failed"):
            policy.act({"price": 1.0}, {})
    finally:
        policy.close()
