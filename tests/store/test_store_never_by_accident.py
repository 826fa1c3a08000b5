"""Stores never appear by accident (issue 14, item 3).

Only `arena db init` (and `arena db restore`) makes a store. Every other command, on a missing
file, a zero-byte file or a table prefix with no tables (SQLite, and DynamoDB through moto),
fails with one line on stderr and a non-zero exit, and leaves nothing behind: no file, no
header written into the empty file, no tables. Read-only commands open SQLite read-only, so
they work while another process holds the write lock. A publish that cannot open its store
leaves the published site exactly as it was.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arena.models import Team
from cli import app
from tasks.store import open_store
from tests.conftest import APRIL_NAIVE, ROOT
from tests.leaderboard.leaderboard_data import END, START, make_competition
from tests.store.conftest import AWS_ENV

# Every command that opens the store, with arguments that would get it past its own checks.
COMMANDS = [
    ["publish", "--no-artifact"],
    ["round"],
    ["backtest", "--start", "2023-04-16 00:05", "--end", "2023-04-17 00:00", "--all"],
    ["tasks", "list"],
    ["tasks", "show", "1"],
    ["tasks", "create", "python main.py"],
    ["tasks", "run", "--once"],
    ["teams", "list"],
    ["teams", "show", "101"],
    ["teams", "add", "--id", "101", "--name", "volts", "--repo", "org/volts"],
    ["submissions", "list"],
    ["submissions", "poll"],
    ["submissions", "forget", "101", "ab" * 20],
    ["datapoints", "gaps", "--start", "2023-04-16", "--end", "2023-04-17"],
    ["ingest", "--source", "file", "--file", str(APRIL_NAIVE)],
    ["db", "dump", "-"],
    ["db", "check"],
]
ID = [" ".join(command[:2]) for command in COMMANDS]


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("ARENA_HOME", str(home))
    monkeypatch.setenv("ARENA_STORE_URL", f"sqlite:///{home / 'arena.db'}")
    monkeypatch.setenv("ARENA_TABLE_PREFIX", "test")
    monkeypatch.setenv("ARENA_OBJECTS_URL", str(home / "objects"))
    monkeypatch.setenv("ARENA_SITE_FOLDER", str(home / "site"))
    monkeypatch.setenv("ARENA_SANDBOX_BACKEND", "process")
    monkeypatch.setenv("ARENA_COMPETITION_WINDOW_START", str(START))
    monkeypatch.setenv("ARENA_COMPETITION_WINDOW_END", str(END))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    return home


def refused(args: list[str], *needles: str):
    """Run one command; it must fail with exactly one line on stderr that names the problem."""
    result = CliRunner().invoke(app, args)
    assert result.exit_code not in (0, None), (args, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), (args, result.stderr)
    for needle in needles:
        assert needle in lines[0], (args, lines[0])
    return lines[0]


def sqlite_tables(path: Path) -> set[str]:
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


@pytest.mark.parametrize("args", COMMANDS, ids=ID)
def test_a_missing_sqlite_store_is_an_error_and_stays_missing(home, args):
    refused(args, "no store at", "arena db init")
    assert not (home / "arena.db").exists()


@pytest.mark.parametrize("args", COMMANDS, ids=ID)
def test_a_zero_byte_sqlite_file_is_an_error_and_stays_empty(home, args):
    home.mkdir()
    (home / "arena.db").touch()
    refused(args, "empty file (0 bytes)")
    assert (home / "arena.db").stat().st_size == 0


@pytest.mark.parametrize("args", COMMANDS, ids=ID)
def test_a_wrong_sqlite_prefix_is_an_error_and_creates_no_table(home, args, monkeypatch):
    open_store(create=True).close()  # prefix "test", as `arena db init` makes it
    before = sqlite_tables(home / "arena.db")
    monkeypatch.setenv("ARENA_TABLE_PREFIX", "tset")
    if args[:2] == ["db", "check"]:  # check reports the missing tables itself (a table, exit 1)
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1 and "missing table(s)" in result.stderr
    else:
        refused(args, "no tables with prefix 'tset'", "it holds prefix 'test'", "ARENA_TABLE_PREFIX")
    assert sqlite_tables(home / "arena.db") == before


def test_a_store_missing_some_tables_names_them(home):
    open_store(create=True).close()
    with sqlite3.connect(home / "arena.db") as conn:
        conn.execute('DROP TABLE "test-meta"')
    refused(["tasks", "list"], "table(s) meta of prefix 'test' missing", "arena db init")
    CliRunner().invoke(app, ["db", "init"])
    assert CliRunner().invoke(app, ["tasks", "list"]).exit_code == 0


def test_db_init_makes_the_store_the_others_then_open(home):
    result = CliRunner().invoke(app, ["db", "init"])
    assert result.exit_code == 0, result.output
    for args in (["tasks", "list"], ["teams", "list"], ["submissions", "list"], ["db", "check"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (args, result.output)


def test_a_zero_byte_file_becomes_a_store_only_through_db_init(home):
    home.mkdir()
    (home / "arena.db").touch()
    assert CliRunner().invoke(app, ["db", "init"]).exit_code == 0
    assert CliRunner().invoke(app, ["teams", "list", "--json"]).stdout.strip() == "[]"


@pytest.fixture
def dynamodb(home, monkeypatch):
    from moto import mock_aws

    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ARENA_STORE_URL", "dynamodb")
    monkeypatch.setenv("ARENA_TABLE_PREFIX", "energy")
    with mock_aws():
        yield


def dynamo_tables() -> list[str]:
    import boto3

    return sorted(boto3.client("dynamodb").list_tables()["TableNames"])


@pytest.mark.parametrize("args", [a for a in COMMANDS if a[:2] != ["db", "check"]], ids=[i for i in ID if i != "db check"])
def test_dynamodb_without_tables_or_with_a_wrong_prefix_is_an_error(dynamodb, args, monkeypatch):
    refused(args, "no tables with prefix 'energy'", "arena db init")
    assert dynamo_tables() == []

    open_store(create=True)
    tables = dynamo_tables()
    monkeypatch.setenv("ARENA_TABLE_PREFIX", "enrgy")
    refused(args, "no tables with prefix 'enrgy'", "it holds prefix 'energy'")
    assert dynamo_tables() == tables


def test_dynamodb_check_reports_a_wrong_prefix(dynamodb, monkeypatch):
    open_store(create=True)
    monkeypatch.setenv("ARENA_TABLE_PREFIX", "enrgy")
    result = CliRunner().invoke(app, ["db", "check", "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["missing"]
    assert not any(name.startswith("enrgy-") for name in dynamo_tables())


# -- publish keeps the old site ------------------------------------------------------------------


def site_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def fill(store) -> None:
    teams, subs, _ = make_competition()
    for team in teams:
        store.put_team(team)
    for record in subs:
        store.put_submission(record)


@pytest.mark.parametrize("damage", ["zero-byte", "missing", "wrong prefix"])
def test_publish_on_a_broken_store_fails_and_keeps_the_old_site(home, damage, monkeypatch):
    store = open_store(create=True)
    fill(store)
    store.close()
    first = CliRunner().invoke(app, ["publish", "--no-artifact", "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["rows"], "the old site must have rows to lose"
    old = site_files(home / "site")
    assert "index.html" in old

    db = home / "arena.db"
    for leftover in (db, db.with_name("arena.db-wal"), db.with_name("arena.db-shm")):
        leftover.unlink(missing_ok=True)
    if damage == "zero-byte":
        db.touch()
    elif damage == "wrong prefix":
        open_store(create=True).close()  # a real store, prefix "test", but empty
        monkeypatch.setenv("ARENA_TABLE_PREFIX", "tets")
    line = refused(["publish", "--no-artifact"], "the site is left as it was")
    assert "cannot open the store" in line
    assert site_files(home / "site") == old


def test_publish_on_an_empty_dynamodb_prefix_keeps_the_old_site(dynamodb, home, monkeypatch):
    fill(open_store(create=True))
    assert CliRunner().invoke(app, ["publish", "--no-artifact"]).exit_code == 0
    old = site_files(home / "site")
    monkeypatch.setenv("ARENA_TABLE_PREFIX", "enrgy")
    refused(["publish", "--no-artifact"], "no tables with prefix 'enrgy'", "the site is left as it was")
    assert site_files(home / "site") == old


# -- readers and a writer at once ----------------------------------------------------------------

WRITER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute('INSERT INTO "test-teams" (team_id, item) VALUES (199, ?)', (sys.argv[2],))
print("holding", flush=True)
sys.stdin.read()  # the write lock is held, uncommitted, until the test closes our stdin
conn.execute("ROLLBACK")
"""


def test_read_only_commands_run_while_another_process_holds_the_write_lock(home):
    store = open_store(create=True)
    fill(store)
    store.close()
    uncommitted = Team(team_id=199, team_name="not yet", repo="o/later")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(home / "arena.db"), json.dumps(uncommitted.to_item())],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "holding", "the writer never took the lock"
        # The lock is really held: a writer with no patience is refused.
        with sqlite3.connect(home / "arena.db", timeout=0) as probe, pytest.raises(sqlite3.OperationalError, match="locked"):
            probe.execute("BEGIN IMMEDIATE")

        listed = CliRunner().invoke(app, ["teams", "list", "--json"])
        assert listed.exit_code == 0, listed.output
        assert 199 not in {team["team_id"] for team in json.loads(listed.stdout)}  # readers see committed rows
        assert 101 in {team["team_id"] for team in json.loads(listed.stdout)}
        for args in (["tasks", "list", "--json"], ["teams", "show", "101", "--json"], ["submissions", "list"],
                     ["db", "check", "--json"], ["db", "dump", "-"],
                     ["datapoints", "gaps", "--start", "2023-04-16", "--end", "2023-04-17"],
                     ["publish", "--no-artifact", "--json"]):
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 0, (args, result.output, result.exception)
        assert json.loads((home / "site" / "leaderboard.json").read_text())["rows"]
    finally:
        writer.stdin.close()
        writer.wait(120)
    assert writer.returncode == 0


def test_read_only_is_read_only(home):
    from tasks.store import StoreError

    open_store(create=True).close()
    reader = open_store(read_only=True)
    assert reader.list_teams() == []
    with pytest.raises(StoreError, match="readonly"):
        reader.put_team(Team(team_id=101, team_name="volts", repo="org/volts"))


def test_serving_the_deployments_needs_a_store(home):
    served = subprocess.run([sys.executable, "-m", "deployments.serve"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    assert served.returncode != 0
    assert served.stderr.strip().splitlines() == [served.stderr.strip()]
    assert "no store at" in served.stderr and "arena db init" in served.stderr
    assert not (home / "arena.db").exists()
