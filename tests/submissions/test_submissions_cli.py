"""`arena teams` and `arena submissions`, end to end through the command line."""

from __future__ import annotations

import json

import pytest
from git_helpers import commit, make_repo
from typer.testing import CliRunner

from arena.models import Team
from cli import app

runner = CliRunner()


def arena(*args: str, ok: bool = True):
    result = runner.invoke(app, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return result


def said(result) -> str:
    """The output as one line: rich wraps long errors at the terminal width."""
    return " ".join(result.output.split())


def test_add_list_edit_remove(tmp_path, store):
    repo = make_repo(tmp_path / "alpha")
    arena("teams", "add", "--id", "101", "--name", "Alpha", "--city", "syd", "--repo", str(repo),
          "--branch", "main", "--limit", "step_timeout_s=5", "--limit", "memory=2g")
    arena("teams", "add", "--id", "102", "--name", "Beta", "--repo", "org/beta")
    listed = json.loads(arena("teams", "list", "--json").stdout)
    assert [(t["team_id"], t["city"], t["limits"]) for t in listed] == [
        (101, "SYD", {"step_timeout_s": 5.0, "memory": "2g"}), (102, "", {})]
    assert "Alpha" in arena("teams", "list").stdout

    arena("teams", "edit", "101", "--branch", "comp", "--limit", "cpus=2", "--unset-limit", "memory")
    team = store.get_team(101)
    assert (team.branch, team.limits, team.team_name) == ("comp", {"step_timeout_s": 5.0, "cpus": 2.0}, "Alpha")

    arena("teams", "remove", "102")
    assert [t.team_id for t in store.list_teams()] == [101]
    assert "no team 102" in said(arena("teams", "remove", "102", ok=False))


@pytest.mark.parametrize("args, message", [
    (["--id", "99", "--name", "X", "--repo", "o/r"], "greater than or equal to 100"),
    (["--id", "201", "--name", "X", "--repo", "o/r"], "less than or equal to 200"),
    (["--id", "150", "--name", "X", "--repo", "o/r", "--limit", "step_timeout_s=0"], "greater than 0"),
    (["--id", "150", "--name", "X", "--repo", "o/r", "--limit", "network=on"], "unknown limit 'network'"),
    (["--id", "150", "--name", "X", "--repo", "o/r", "--limit", "cpus"], "not KEY=VALUE"),
    (["--id", "150", "--name", "", "--repo", "o/r"], "team_name"),
])
def test_bad_team_input_is_a_one_line_error_and_writes_nothing(store, args, message):
    assert message in said(arena("teams", "add", *args, ok=False))
    assert store.list_teams() == []


def test_add_refuses_to_overwrite_without_replace(store):
    arena("teams", "add", "--id", "150", "--name", "A", "--repo", "o/a")
    assert "exists" in said(arena("teams", "add", "--id", "150", "--name", "B", "--repo", "o/b", ok=False))
    arena("teams", "add", "--id", "150", "--name", "B", "--repo", "o/b", "--replace")
    assert store.get_team(150).team_name == "B"


def test_import_csv_and_toml(tmp_path, store):
    csv_file = tmp_path / "teams.csv"
    csv_file.write_text(
        "team_id,team_name,city,repo,branch,limits\n"
        "101,Alpha,SYD,org/alpha,main,step_timeout_s=4;memory=2g\n"
        "102,Beta,MEL,org/beta,,\n"
    )
    arena("teams", "import", str(csv_file))
    assert [(t.team_id, t.branch, t.limits) for t in store.list_teams()] == [
        (101, "main", {"step_timeout_s": 4.0, "memory": "2g"}), (102, "main", {})]

    toml_file = tmp_path / "teams.toml"
    toml_file.write_text(
        '[[teams]]\nteam_id = 103\nteam_name = "Gamma"\ncity = "BNE"\nrepo = "org/gamma"\nbranch = "comp"\n'
        '[teams.limits]\ncpus = 2\n\n'
        '[[teams]]\nteam_id = 104\nname = "Delta"\nrepo = "https://github.com/org/delta.git"\n'
    )
    arena("teams", "import", str(toml_file))
    assert store.get_team(103).limits == {"cpus": 2.0} and store.get_team(104).team_name == "Delta"


def test_an_import_with_one_bad_row_imports_nothing(tmp_path, store):
    store.put_team(Team(team_id=101, team_name="Existing", repo="org/x"))
    bad = tmp_path / "teams.csv"
    bad.write_text("team_id,team_name,repo\n102,Fine,org/fine\n300,TooHigh,org/high\n103,,org/noname\n101,Again,org/x\n")
    out = said(arena("teams", "import", str(bad), ok=False))
    assert "row 2" in out and "row 3" in out and "team 101 exists" in out
    assert [t.team_id for t in store.list_teams()] == [101]
    (tmp_path / "x.json").write_text("[]")
    assert "use a .csv or .toml" in said(arena("teams", "import", str(tmp_path / "x.json"), ok=False))
    (tmp_path / "broken.toml").write_text("[[teams]\n")
    assert "not valid TOML" in said(arena("teams", "import", str(tmp_path / "broken.toml"), ok=False))


def test_done_bar_through_the_cli(tmp_path, store, stub):
    """Three teams; one pushes two submission commits, one a commit without the word: three
    requests, for the right commits, visible per team."""
    alpha, beta = make_repo(tmp_path / "alpha"), make_repo(tmp_path / "beta")
    stub.repos["org/gamma"] = gamma = make_repo(tmp_path / "gamma")
    arena("teams", "add", "--id", "101", "--name", "Alpha", "--repo", str(alpha))
    arena("teams", "add", "--id", "102", "--name", "Beta", "--repo", f"file://{beta}")
    arena("teams", "add", "--id", "103", "--name", "Gamma", "--repo", "org/gamma")
    a1, a2 = commit(alpha, "submission one"), commit(alpha, "submission two")
    commit(beta, "tidy up")
    g1 = commit(gamma, "submission")

    report = json.loads(arena("submissions", "poll", "--json").stdout)
    assert [(s["team_id"], s["sha"]) for s in report["submissions"]] == [(101, a1), (101, a2), (103, g1)]
    assert json.loads(arena("submissions", "poll", "--json").stdout)["submissions"] == []

    listed = json.loads(arena("submissions", "list", "--json").stdout)
    assert [(r["team_id"], r["git_commit_hash"], r["state_"]) for r in listed] == [
        (101, a1, "pending"), (101, a2, "pending"), (103, g1, "pending")]
    shown = json.loads(arena("teams", "show", "101", "--json").stdout)
    assert [t["git_commit_hash"] for t in shown["tasks"]] == [a1, a2]
    assert json.loads(arena("teams", "show", "102", "--json").stdout)["tasks"] == []
    # The tasks noun (another module) sees the same rows.
    per_team = json.loads(arena("tasks", "list", "--team", "103", "--json").stdout)
    assert [r["git_commit_hash"] for r in per_team] == [g1]


def test_checkout_and_forget_from_the_cli(tmp_path, store):
    repo = make_repo(tmp_path / "alpha")
    arena("teams", "add", "--id", "101", "--name", "Alpha", "--repo", str(repo))
    sha = commit(repo, "submission", {"bot/x.txt": "x"})
    arena("submissions", "poll")
    arena("submissions", "checkout", "101", sha, str(tmp_path / "out"))
    assert (tmp_path / "out" / "bot" / "x.txt").read_text() == "x"
    assert "not empty" in said(arena("submissions", "checkout", "101", sha, str(tmp_path / "out"), ok=False))

    arena("submissions", "forget", "101", sha)
    again = json.loads(arena("submissions", "poll", "--json").stdout)
    assert [s["sha"] for s in again["submissions"]] == [sha]
    assert "never seen" in said(arena("submissions", "forget", "101", "0" * 40, ok=False))


def test_import_refuses_a_local_repo_that_does_not_exist_and_imports_nothing(tmp_path, store):
    """A missing folder is refused whether it is written as a path or looks like owner/name beside
    a folder of that first name (`repos/beta` next to `repos/`, which GitHub would otherwise get)."""
    make_repo(tmp_path / "repos" / "alpha")
    teams = tmp_path / "teams.csv"
    teams.write_text("team_id,team_name,city,repo,branch\n"
                     "101,Alpha,SYD,repos/alpha,main\n"
                     "102,Beta,SYD,repos/beta,main\n"
                     f"103,Gamma,MEL,{tmp_path / 'nowhere' / 'gamma'},main\n"
                     "104,Delta,MEL,org/delta,main\n")
    out = said(arena("teams", "import", str(teams), ok=False))
    assert "nothing imported" in out
    assert "row 2 (team 102 Beta): repo 'repos/beta' is refused: no such local folder" in out
    assert "https://github.com/repos/beta" in out  # how to say the GitHub repository instead
    assert "row 3 (team 103 Gamma)" in out and "no such local folder" in out
    assert "row 1" not in out and "row 4" not in out
    assert store.list_teams() == []  # all or nothing


def test_the_kickoff_rows_command_is_a_real_arena_command(tmp_path, store):
    """The command a poll records parses as the `arena` CLI would parse it when pasted into a shell:
    a real sub-command, every option known, naming the row's team and commit."""
    import shlex

    import typer.main

    repo = make_repo(tmp_path / "alpha")
    arena("teams", "add", "--id", "101", "--name", "Alpha", "--repo", str(repo))
    sha = commit(repo, "submission one")
    arena("submissions", "poll")
    (row,) = [r for r in store.list_tasks() if r.type.value == "submission-kickoff"]
    argv = shlex.split(row.command)
    assert argv[0] == "arena" and shlex.join(argv) == row.command
    group = typer.main.get_command(app)
    command = group.get_command(None, argv[1])
    assert command is not None, f"no `arena {argv[1]}` command"
    params = command.make_context(argv[1], argv[2:]).params  # raises on an unknown option or value
    assert (params["team"], params["commit"]) == (101, sha)
    assert params["start"] is None and params["end"] is None  # the competition's window, as a round
