"""`arena tasks ...` and `arena db ...` through typer's CliRunner on a SQLite file."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from arena.models import Team
from arena.settings import StoreSettings
from cli import app
from cli._common import console
from tasks.store import TABLES, open_store


@pytest.fixture
def cli(tmp_path, monkeypatch):
    db = tmp_path / "home" / "arena.db"
    monkeypatch.setenv("ARENA_STORE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("ARENA_TABLE_PREFIX", "clitest")
    runner = CliRunner()

    def run(*args: str, input: str | None = None, ok: bool = True):
        result = runner.invoke(app, list(args), input=input)
        if ok:
            assert result.exit_code == 0, (result.output, result.stderr, result.exception)
        return result

    run.db = db
    return run


def _store():
    return open_store(StoreSettings())


def test_tasks_create_list_show_update_delete(cli, monkeypatch):
    cli("db", "init")
    _store().put_team(Team(team_id=101, team_name="volts", repo="org/volts"))
    assert cli("tasks", "create", "python main.py").stdout.strip() == "1"
    second = cli("tasks", "create", "evaluate", "--type", "evaluation", "--team", "101", "--commit", "ab" * 20)
    assert second.stdout.strip() == "2"
    for n in range(9):
        cli("tasks", "create", f"more {n}")

    listed = json.loads(cli("tasks", "list", "--json").stdout)
    assert [row["id"] for row in listed] == list(range(1, 12))
    mine = json.loads(cli("tasks", "list", "--team", "101", "--json").stdout)
    assert [(r["id"], r["team_name"], r["type"]) for r in mine] == [(2, "volts", "evaluation")]
    monkeypatch.setattr(console, "width", 200)  # CliRunner's 80 columns would fold the command cell
    table = cli("tasks", "list").stdout
    assert "python main.py" in table and "volts" in table

    cli("tasks", "update", "2", "state_", "running")
    assert json.loads(cli("tasks", "list", "--state", "running", "--json").stdout)[0]["id"] == 2
    shown = json.loads(cli("tasks", "show", "2", "--json").stdout)
    assert shown["state_"] == "running" and shown["git_commit_hash"] == "ab" * 20
    assert "git_commit_hash" in cli("tasks", "show", "2").stdout

    cli("tasks", "update", "2", "team_id", "null")
    assert _store().get_task(2).team_id is None

    conflict = cli("tasks", "update", "2", "state_", "success", "--expect-state", "pending", ok=False)
    assert conflict.exit_code == 1 and "running" in conflict.stderr

    cli("tasks", "delete", "1")
    missing = cli("tasks", "show", "1", ok=False)
    assert missing.exit_code == 1 and "no task 1" in missing.stderr
    assert cli("tasks", "delete", "1", ok=False).exit_code == 1


def test_tasks_refuse_bad_input_clearly(cli):
    cli("db", "init")
    cli("tasks", "create", "x")
    bad_field = cli("tasks", "update", "1", "colour", "red", ok=False)
    assert bad_field.exit_code != 0 and "cannot set 'colour'" in bad_field.stderr
    bad_state = cli("tasks", "update", "1", "state_", "finished", ok=False)
    assert bad_state.exit_code == 1 and "state" in bad_state.stderr
    assert cli("tasks", "list", "--state", "finished", ok=False).exit_code != 0
    assert _store().get_task(1).state_.value == "pending"


def test_db_init_check_dump_destroy_restore(cli, tmp_path):
    cli("db", "init")
    report = json.loads(cli("db", "check", "--json").stdout)
    assert report["missing"] == [] and set(report["tables"]) == set(TABLES)
    for n in range(3):
        cli("tasks", "create", f"job {n}")
    backup = tmp_path / "backups" / "arena.jsonl"
    cli("db", "dump", str(backup))
    lines = [json.loads(line) for line in backup.read_text().splitlines()]
    assert {"table": "counters", "item": {"name": "tasks", "value": 3}} in lines
    assert sum(1 for line in lines if line["table"] == "tasks") == 3

    cli("db", "destroy", "--yes")
    gone = cli("db", "check", ok=False)
    assert gone.exit_code == 1 and "missing" in gone.stderr

    restored = cli("db", "restore", str(backup))
    assert "restored 4 rows" in restored.stdout
    assert cli("db", "check").exit_code == 0
    assert cli("tasks", "create", "after").stdout.strip() == "4"


def test_db_restore_refuses_a_bad_backup_and_writes_nothing(cli, tmp_path):
    backup = tmp_path / "bad.jsonl"
    good = json.dumps({"table": "teams", "item": Team(team_id=101, team_name="a", repo="r").to_item()})
    backup.write_text(good + "\n{not json\n")
    result = cli("db", "restore", str(backup), ok=False)
    assert result.exit_code != 0 and "line 2" in result.stderr
    backup.write_text(good + "\n" + json.dumps({"table": "tasks", "item": {"id": 0}}) + "\n")
    result = cli("db", "restore", str(backup), ok=False)
    assert result.exit_code == 1 and "tasks" in result.stderr
    assert _store().list_teams() == []


def test_db_destroy_asks(cli, monkeypatch):
    cli("db", "init")
    declined = cli("db", "destroy", input="n\n", ok=False)
    assert declined.exit_code == 1 and _store().check()["missing"] == []

    monkeypatch.setenv("ARENA_TABLE_PREFIX", "energy")
    cli("db", "init")
    wrong = cli("db", "destroy", "--yes", input="yes\n", ok=False)
    assert wrong.exit_code == 1 and _store().check()["missing"] == []
    cli("db", "destroy", "--yes", input="energy\n")
    assert sorted(open_store(StoreSettings(), require_tables=False).check()["missing"]) == sorted(TABLES)


def test_db_check_fails_on_a_store_without_tables(cli, monkeypatch):
    monkeypatch.setenv("ARENA_TABLE_PREFIX", "other")
    cli("db", "init")
    monkeypatch.setenv("ARENA_TABLE_PREFIX", "clitest")
    result = cli("db", "check", "--json", ok=False)
    assert result.exit_code == 1
    assert sorted(json.loads(result.stdout)["missing"]) == sorted(TABLES)


def test_db_check_creates_nothing(cli):
    result = cli("db", "check", ok=False)
    assert result.exit_code == 1 and "arena db init" in result.stderr
    assert not cli.db.exists() and not cli.db.parent.exists()
