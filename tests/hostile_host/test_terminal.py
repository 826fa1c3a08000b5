"""Team text that reaches the organiser's terminal: `arena evaluate` prints the team's error line
through rich. Markup in it must not be read (a stray `[/bold]` raised MarkupError after the
result was written; `[link=...]` made a hyperlink), and no escape or control sequence of the
team's (clear screen, window title, OSC 8 links, a carriage return over the line, a bidi
override) may reach the terminal."""

from __future__ import annotations

import json
import textwrap

from typer.testing import CliRunner

from arena.text import terminal_text
from cli import app
from tests.conftest import APRIL_NAIVE

HOSTILE = ("[/bold] \x1b]0;pwned\x1b\\ \x1b[2J\x1b[H [link=https://evil.example]click[/link] "
           "real\rfake \x9b31m \u202egnp.exe \x07\x08")


def _team(folder, message):
    policies = folder / "bot" / "policies"
    policies.mkdir(parents=True)
    (policies / "__init__.py").write_text("")
    (policies / "evil.py").write_text(textwrap.dedent(f"""
        class Evil:
            def __init__(self, **kwargs):
                pass
            def load_historical(self, external_states):
                pass
            def act(self, external_state, internal_state):
                raise ValueError({message!r})
    """))
    (folder / "bot" / "config.json").write_text(json.dumps({"policy": {"class_name": "Evil", "parameters": {}}}))
    return folder


def _terminal_safe(output):
    assert not [c for c in output if (ord(c) < 32 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f
                or 0x202a <= ord(c) <= 0x202e or 0x2066 <= ord(c) <= 0x2069], repr(output)


def test_a_teams_error_reaches_the_terminal_inert(tmp_path):
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["evaluate", "--data", str(APRIL_NAIVE), "--team-dir", str(_team(tmp_path / "t", HOSTILE)),
                                   "--sandbox", "local", "--start", "2023-04-20 00:00", "--end", "2023-04-20 01:00",
                                   "--output", str(out)])
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == 1
    assert "Evil failed: " in res.output and "act() raised ValueError" in res.output
    assert "[/bold]" in res.output and "[link=https://evil.example]click[/link]" in res.output  # shown, not read
    _terminal_safe(res.output)
    assert "\x1b" in json.loads(out.read_text())["error"]  # the record keeps what the team sent


def test_terminal_text_keeps_lines_and_ordinary_text():
    assert terminal_text("a\tb\nc é 漢 ✓") == "a\tb\nc é 漢 ✓"
    shown = terminal_text(HOSTILE)
    _terminal_safe(shown)
    assert "pwned" in shown and "gnp.exe" in shown  # the content is still there to read


def test_the_round_table_shows_a_teams_name_and_error_inert(capsys):
    """`arena run round` / `backtest` end with this table; a team's error in it raised MarkupError."""
    from cli.run import print_ranked

    rows = [{"rank": None, "team_id": 7, "team_name": "[bold]team\x1b[2J", "commit": "abc", "status": "error",
             "error": HOSTILE},
            {"rank": 1, "team_id": 8, "team_name": "honest", "commit": "def", "value": 1.0, "score": 1.0,
             "status": "success"}]
    print_ranked(rows, "round")
    output = capsys.readouterr().out
    assert "honest" in output and "[bold]team" in output and "[/bold]" in output
    _terminal_safe(output)


def test_task_rows_show_a_teams_text_as_text(arena_home):
    """`arena tasks list / show` print diagnostics and names a team controls: no markup, no escapes."""
    from typer.testing import CliRunner

    from cli import app
    from tasks.store import open_store

    hostile = "[/bold] \x1b]0;owned\x07 \x1b[2J name"
    store = open_store()
    row = store.create_task("evaluate", type="evaluation", team_id=101, team_name=hostile, git_commit_hash="a" * 40)
    store.update_task(row.id, diagnostic=hostile)
    for args in (["tasks", "list"], ["tasks", "show", str(row.id)]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
        assert "\x1b" not in result.output and "\x07" not in result.output
        assert "[/bold]" in result.output
