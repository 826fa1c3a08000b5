"""Fail fast on platform misconfiguration (issue 14, item 4).

A missing S3 bucket or an unreachable object store is one line on stderr and exit code 1 at the
start of `arena round`, `arena backtest`, `arena tasks run` and `arena publish --s3`, before any
team runs (it used to be minutes of retries per team, then exit 0). A round in which every
evaluation failed on arena's side exits non-zero; a team's own error does not.
"""

from __future__ import annotations

import boto3
import pytest
from typer.testing import CliRunner

from arena.models import SubmissionRecord
from cli import app
from tasks import rounds
from tests.store.conftest import AWS_ENV

BUCKET = "arena-trials"
COMMANDS = [
    ["round"],
    ["backtest", "--start", "2023-04-16 00:05", "--end", "2023-04-17 00:00", "--all"],
    ["tasks", "run", "--once"],
]


@pytest.fixture
def aws(arena_home, monkeypatch):
    """moto in-process, with one existing bucket; PREFECT_API_URL unset so nothing waits on Prefect."""
    from moto import mock_aws

    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "PREFECT_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARENA_SITE_FOLDER", str(arena_home / "site"))
    with mock_aws():
        boto3.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": AWS_ENV["AWS_REGION"]})
        yield


def one_error_line(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, (args, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), (args, result.stderr)
    return lines[0]


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_a_missing_objects_bucket_is_one_line_and_exit_1(aws, monkeypatch, args):
    monkeypatch.setenv("ARENA_OBJECTS_URL", "s3://missing-bucket/trials")
    line = one_error_line(args)
    assert "'missing-bucket' does not exist" in line and "ARENA_OBJECTS_URL" in line


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_an_unwritable_objects_folder_is_one_line_and_exit_1(arena_home, monkeypatch, args):
    blocker = arena_home / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("ARENA_OBJECTS_URL", str(blocker / "objects"))
    assert "cannot write objects in" in one_error_line(args)


def test_an_existing_bucket_passes_the_preflight(aws, arena_home, monkeypatch):
    monkeypatch.setenv("ARENA_OBJECTS_URL", f"s3://{BUCKET}/trials")
    result = CliRunner().invoke(app, ["tasks", "run", "--once", "--json"])
    assert result.exit_code == 0, result.output
    published = CliRunner().invoke(app, ["publish", "--no-artifact", "--s3", f"s3://{BUCKET}/site"])
    assert published.exit_code == 0, published.output
    keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert "site/index.html" in keys


def test_publish_to_a_missing_bucket_fails_before_rendering(aws, arena_home):
    line = one_error_line(["publish", "--no-artifact", "--s3", "s3://missing-bucket/site"])
    assert "site bucket (--s3) 'missing-bucket' does not exist" in line and "left as it was" in line
    assert not (arena_home / "site" / "index.html").exists()


# ---- a round of nothing but platform failures -------------------------------------------------


def _entry(team_id: int) -> rounds.Entry:
    return rounds.Entry(team_id, f"team{team_id}", f"{team_id:x}" * 10, None, f"key{team_id}", False)


def _record(team_id: int, status: str) -> SubmissionRecord:
    return SubmissionRecord(team_id=team_id, team_name=f"team{team_id}", key=f"key{team_id}",
                            git_commit_hash=f"{team_id:x}" * 10, window_start=0, window_end=300, rules="gbh2024",
                            status=status, score=1.0 if status == "success" else None, baseline_score=0.5,
                            error=None if status == "success" else "act() raised KeyError")


def _table(store, records, states):
    from flows.evaluation import _summary

    for record in records:
        store.put_submission(record)
    return _summary(store, [_entry(t) for t in states], states)


def test_only_platform_failures_judges_the_round_table(arena_home):
    from tasks.store import open_store

    store = open_store()
    lost = _table(store, [], {101: "Failed", 102: "Failed"})
    assert [row["status"] for row in lost] == ["not evaluated", "not evaluated"]
    assert rounds.only_platform_failures(lost)
    # A team's own error is a result: the round did its job.
    assert not rounds.only_platform_failures(_table(store, [_record(103, "error")], {103: "Completed", 104: "Failed"}))
    assert not rounds.only_platform_failures(_table(store, [_record(105, "success")], {105: "Completed"}))
    assert not rounds.only_platform_failures([])  # nothing to evaluate is not a failure
    skipped = [{"team_id": 106, "status": "success", "run": rounds.SKIPPED}]
    assert not rounds.only_platform_failures(skipped)


def test_round_command_exits_1_when_every_evaluation_failed_on_arenas_side(capsys):
    import typer

    from cli.run import _show

    lost = [{"rank": None, "team_id": 101, "status": rounds.NOT_EVALUATED, "run": "Failed"}]
    with pytest.raises(typer.Exit) as exited:
        _show(lost, "round", as_json=True)
    assert exited.value.exit_code == 1
    assert "every evaluation failed on arena's side" in capsys.readouterr().err
    team_error = [{"rank": None, "team_id": 101, "status": "error", "run": "Completed", "error": "KeyError"}]
    _show(team_error, "round", as_json=True)  # no exit: a team's error is exit code 0
