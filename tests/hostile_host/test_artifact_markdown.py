"""Team text in the Prefect artifacts, parsed as the UI would parse it (CommonMark with tables and
raw HTML on, by markdown-it-py): fences are never closed early, no markup of the team's takes
effect, and what the reader sees is the team's text, character for character."""

from __future__ import annotations

import html

import pytest
from markdown_it import MarkdownIt

from arena.scoring import build_leaderboard
from tasks import markdown
from tasks.publish import artifact_table
from tests.leaderboard.leaderboard_data import RULES, make_competition

HOSTILE = [
    "<script>alert(1)</script>",
    "**bold** _it_ `code` [link](http://evil.example) ![img](http://evil.example/i.png)",
    "<img src=x onerror=alert(1)> <a href='http://evil.example'>x</a>",
    "| a | b |\n|---|---|\n| c | d |",
    "# heading\n- item\n1. one\n> quote",
    "&lt;script&gt; &amp; &#60;b&#62;",
    "\\*escaped\\* \\",
    "~~~~\n```\n~~~~~~~~~~\n",
]
LOGS = "first line\n~~~~\n<script>alert(1)</script>\n```\n~~~~~~~~~~~~~~~~\n[x](http://evil.example)\nlast line"


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")


def _visible(rendered: str) -> str:
    """The text a reader sees: tags dropped, entities decoded."""
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


@pytest.mark.parametrize("value", HOSTILE)
def test_inline_text_shows_exactly_its_characters(value):
    rendered = _parser().render(markdown.text(value))
    assert rendered.startswith("<p>") and rendered.count("<p>") == 1  # one paragraph, nothing else
    for tag in ("<script", "<img", "<a ", "<strong", "<em", "<code", "<table", "<h1", "<ul", "<ol", "<s>"):
        assert tag not in rendered, (tag, rendered)
    assert _visible(rendered).strip() == " ".join(value.split())


@pytest.mark.parametrize("value", HOSTILE)
def test_a_table_cell_is_inert(value):
    cell = markdown.cell(value)
    tokens = _parser().parse(f"| team |\n|---|\n| {cell} |\n")
    cells = [t for t in tokens if t.type == "inline"]
    assert len(cells) == 2  # the header and this one cell: no column, row or table of the team's
    rendered = _parser().renderInline(cells[1].content)
    assert "<" not in rendered.replace("&lt;", "")
    assert _visible(rendered) == " ".join(value.split())
    assert markdown.cell(3.5) == 3.5 and markdown.cell(None) is None


def test_the_log_fence_is_never_closed_early():
    document = markdown.team_log(104, HOSTILE[0], "a" * 40, "error", HOSTILE[1], LOGS)
    tokens = _parser().parse(document)
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 1 and fences[0].content == LOGS + "\n"
    rendered = _parser().render(document)
    assert "<script" not in rendered and "<img" not in rendered and "<a " not in rendered
    assert "<strong>error</strong>" in rendered  # arena's own emphasis still works
    heading = next(t for t in tokens if t.type == "inline")
    assert _visible(_parser().renderInline(heading.content)) == f"Team 104 ({HOSTILE[0]}), commit {'a' * 12}"


@pytest.mark.parametrize("tail", [None, 12345, {"line": "~~~~"}, "~" * 50, "\r~~~~\r<script>x</script>\r"])
def test_any_log_value_stays_inside_its_fence(tail):
    document = markdown.team_log(101, "t", "b" * 40, "error", None, tail)
    fences = [t for t in _parser().parse(document) if t.type == "fence"]
    assert len(fences) == 1
    assert "<script" not in _parser().render(document)


def test_the_leaderboard_table_artifact_escapes_team_names():
    teams, subs, _ = make_competition()
    rows = artifact_table(build_leaderboard(subs, teams, competition="arena", rules=RULES))
    by_name = {_visible(_parser().renderInline(r["team"])): r for r in rows}
    assert "<script>alert(1)</script>" in by_name  # team 102's name reads as it is...
    assert all("<script" not in _parser().renderInline(r["team"]) for r in rows)  # ...and is only text
    assert all(isinstance(r["value"], (float, str)) for r in rows)
