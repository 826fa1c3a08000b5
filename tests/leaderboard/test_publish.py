"""Publishing from a real store: the folder (atomic swap), S3 through prefect-aws against
moto, the CLI commands, and the loopback server."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arena.settings import StoreSettings, load_settings
from cli import app
from cli.site import make_server
from tasks.publish import PublishError, _upload_order, publish_site, publish_to_s3, read_public
from tasks.store import open_store
from tests.leaderboard.leaderboard_data import EVIL, LOG_OF_101, SECRET_COMMAND, SECRET_REPO, make_competition

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "ap-southeast-2",
}
SECRET_META = "meta-value-never-published-91c2"


def fill(store) -> None:
    teams, subs, tasks = make_competition()
    for team in teams:
        store.put_team(team)
    for record in subs:
        store.put_submission(record)
    for row in tasks:
        fields = row.model_dump(exclude={"task", "id", "command"})
        store.create_task(row.command, **fields)
    store.put_meta("poller-claim", {"note": SECRET_META})
    store.next_id("tasks")


@pytest.fixture(params=["sqlite", "dynamodb-moto"])
def any_store(request, arena_home, monkeypatch):
    """Both backends, for the tests about what is read from a store."""
    if request.param == "sqlite":
        yield open_store(StoreSettings())
        return
    from moto import mock_aws

    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ARENA_STORE_URL", "dynamodb")  # so `arena publish` opens it too
    with mock_aws():
        yield open_store(StoreSettings(), create=True)


@pytest.fixture
def store(arena_home):
    return open_store(StoreSettings())


@pytest.fixture
def filled(store):
    fill(store)
    return store


@pytest.fixture
def any_filled(any_store):
    fill(any_store)
    return any_store


@pytest.fixture
def s3_bucket(monkeypatch):
    import boto3
    from moto import mock_aws

    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="ap-southeast-2")
        client.create_bucket(Bucket="arena-site",
                             CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
        yield client


def test_publish_site_from_a_store(any_filled, arena_home):
    settings = load_settings()
    folder = publish_site(any_filled, settings)
    assert folder == settings.site.folder == arena_home / "site"
    board = json.loads((folder / "leaderboard.json").read_text())
    assert [r["team_id"] for r in board["rows"]] == [101, 102, 105, 104, 103, 107, 106]
    assert board["baseline_score"] == 10.0
    texts = {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob("*") if p.is_file()}
    for name, text in texts.items():
        assert SECRET_META not in text and SECRET_REPO not in text and SECRET_COMMAND not in text, name
        assert EVIL not in text or name == "leaderboard.json", name  # JSON holds the name as data
        if name != "teams/101.html":
            assert LOG_OF_101 not in text, name
    assert LOG_OF_101 in texts["teams/101.html"]


def test_read_public_reads_only_team_task_rows(any_filled):
    records = read_public(any_filled)
    assert {t.team_id for t in records.tasks} == {101, 103}  # the ingest row (no team) is not read


def test_republish_swaps_the_folder_and_leaves_no_temp(filled, arena_home):
    settings = load_settings()
    folder = publish_site(filled, settings)
    (folder / "stale.html").write_text("old")
    publish_site(filled, settings)
    assert not (folder / "stale.html").exists()
    assert sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(".site")) == []
    assert (folder / "index.html").is_file()


def test_failed_render_keeps_the_old_site(filled, arena_home, monkeypatch):
    settings = load_settings()
    folder = publish_site(filled, settings)
    before = (folder / "index.html").read_text()

    def broken(*args, **kwargs):
        raise RuntimeError("template exploded")

    import tasks.publish

    monkeypatch.setattr(tasks.publish, "render_site", broken)
    with pytest.raises(RuntimeError, match="template exploded"):
        publish_site(filled, settings)
    assert (folder / "index.html").read_text() == before
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".site")] == []


def test_publish_to_s3_through_prefect_aws(tmp_path, s3_bucket):
    teams, subs, tasks = make_competition()
    from tasks.publish import PublicRecords, build_board, render_into

    records = PublicRecords(teams, subs, tasks)
    folder = render_into(tmp_path / "site", records, build_board(records, load_settings()))
    keys = publish_to_s3(folder, "s3://arena-site/gbh/2025/")
    listed = {o["Key"] for o in s3_bucket.list_objects_v2(Bucket="arena-site")["Contents"]}
    expected = {"gbh/2025/" + p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert listed == expected == set(keys)
    assert keys[-2:] == ["gbh/2025/index.html", "gbh/2025/leaderboard.json"]  # entry points last
    head = s3_bucket.head_object(Bucket="arena-site", Key="gbh/2025/index.html")
    assert head["ContentType"] == "text/html; charset=utf-8"
    page = s3_bucket.get_object(Bucket="arena-site", Key="gbh/2025/teams/103.html")["Body"].read().decode()
    assert page == (folder / "teams/103.html").read_text()
    css = s3_bucket.head_object(Bucket="arena-site", Key="gbh/2025/static/site.css")
    assert css["ContentType"].startswith("text/css")


def test_publish_to_s3_errors_are_clear(tmp_path, s3_bucket):
    with pytest.raises(PublishError, match="no site"):
        publish_to_s3(tmp_path, "s3://arena-site/x")
    (tmp_path / "index.html").write_text("<p>hi</p>")
    with pytest.raises(PublishError, match="not an S3 URL"):
        publish_to_s3(tmp_path, "https://example.invalid/x")
    with pytest.raises(PublishError, match="upload of index.html"):
        publish_to_s3(tmp_path, "s3://no-such-bucket/x")


def test_upload_order_puts_entry_points_last():
    paths = [Path("index.html"), Path("teams/101.html"), Path("leaderboard.json"), Path("static/site.css")]
    assert [p.as_posix() for p in sorted(paths, key=_upload_order)] == [
        "static/site.css", "teams/101.html", "index.html", "leaderboard.json"]


def test_cli_publish_json_and_table(filled, arena_home):
    runner = CliRunner()
    result = runner.invoke(app, ["publish", "--no-artifact", "--json"])
    assert result.exit_code == 0, result.output
    board = json.loads(result.stdout)
    assert board["rows"][0]["team_name"] == "Sparky"
    assert (arena_home / "site" / "teams" / "103.html").is_file()
    result = runner.invoke(app, ["publish", "--no-artifact", "--folder", str(arena_home / "elsewhere")])
    assert result.exit_code == 0, result.output
    assert "Sparky" in result.stdout and "Volt Crashers" in result.stdout
    assert (arena_home / "elsewhere" / "index.html").is_file()


def test_cli_publish_bad_s3_url_fails_in_one_line(filled, arena_home):
    result = CliRunner().invoke(app, ["publish", "--no-artifact", "--s3", "ftp://nope"])
    assert result.exit_code == 2
    assert "not an S3 URL" in result.output
    assert (arena_home / "site" / "index.html").is_file()  # the local site is still written


def test_cli_serve_without_a_site_fails(arena_home):
    result = CliRunner().invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 2 and "arena publish" in result.output


def test_server_serves_the_site_on_loopback(tmp_path):
    (tmp_path / "index.html").write_text("<h1>board</h1>")
    server = make_server(tmp_path, 0)
    host, port = server.server_address[:2]
    assert host == "127.0.0.1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as response:
            assert response.read() == b"<h1>board</h1>"
            assert response.headers["Content-Type"].startswith("text/html")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)



def test_publish_leaderboard_does_every_step(filled, arena_home, s3_bucket):
    from tasks.publish import publish_leaderboard

    result = publish_leaderboard(filled, load_settings(), s3_url="s3://arena-site/lb", artifact=False)
    assert result.folder == arena_home / "site" and (result.folder / "index.html").is_file()
    assert result.board["rows"][0]["team_id"] == 101
    assert "lb/teams/103.html" in result.s3_keys and result.artifact_id is None
