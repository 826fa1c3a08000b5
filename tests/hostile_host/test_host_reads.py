"""The two team files the host reads (bot/config.json, bot/requirements.txt), as links to a host
file holding a secret, and as other odd things: refused with the team's own path named, the secret
never in any message. Team folders here are written directly (as `arena evaluate --dir` or a
checkout could leave them); a checkout cannot even hold a link leaving the repository."""

from __future__ import annotations

import json
import os
import threading

import pytest
from crafted import SECRET

from battery_sim.teamcode import TeamCodeError, read_config, read_requirements

CONFIG = {"policy": {"class_name": "Hold", "parameters": {"x": 1}}}


def team(tmp_path, config: object = CONFIG):
    bot = tmp_path / "team" / "bot"
    (bot / "policies").mkdir(parents=True)
    if config is not None:
        (bot / "config.json").write_text(json.dumps(config))
    return bot.parent


def _link(path, target):
    path.unlink(missing_ok=True)
    path.symlink_to(target)


LINKS_OUT = [
    ("absolute", lambda bot, out: str(out / "secret.txt")),
    ("relative", lambda bot, out: "../../outside/secret.txt"),
    ("climbing-through-a-folder", lambda bot, out: "policies/../../../outside/secret.txt"),
]


@pytest.mark.parametrize("name, target", LINKS_OUT, ids=[n for n, _ in LINKS_OUT])
@pytest.mark.parametrize("file", ["config.json", "requirements.txt"])
def test_a_link_out_of_bot_is_refused_and_the_secret_never_shown(name, target, file, tmp_path, outside):
    folder = team(tmp_path)
    _link(folder / "bot" / file, target(folder / "bot", outside))
    read = read_config if file == "config.json" else read_requirements
    with pytest.raises(TeamCodeError) as caught:
        read(folder)
    assert f"bot/{file}" in str(caught.value) and "out of bot/" in str(caught.value)
    assert SECRET not in str(caught.value) and "ORGANISER" not in str(caught.value)


def test_a_folder_link_on_the_way_out_is_refused(tmp_path, outside):
    folder = team(tmp_path, config=None)
    (folder / "bot" / "conf").symlink_to("../..")  # bot/conf -> the folder above the repo
    (folder / "bot" / "config.json").symlink_to("conf/outside/secret.txt")
    with pytest.raises(TeamCodeError, match="out of bot/") as caught:
        read_config(folder)
    assert SECRET not in str(caught.value)


def test_bot_itself_a_link_is_refused(tmp_path, outside):
    (outside / "config.json").write_text(json.dumps(CONFIG))
    folder = tmp_path / "team"
    folder.mkdir()
    (folder / "bot").symlink_to(outside)
    with pytest.raises(TeamCodeError, match="bot is a link"):
        read_config(folder)
    with pytest.raises(TeamCodeError, match="bot is a link"):
        read_requirements(folder)


def test_links_inside_bot_are_followed(tmp_path):
    folder = team(tmp_path, config=None)
    (folder / "bot" / "configs").mkdir()
    (folder / "bot" / "configs" / "prod.json").write_text(json.dumps(CONFIG))
    (folder / "bot" / "config.json").symlink_to("configs/prod.json")
    (folder / "bot" / "reqs").mkdir()
    (folder / "bot" / "reqs" / "base.txt").write_text("numpy\n")
    (folder / "bot" / "requirements.txt").symlink_to("policies/../reqs/base.txt")
    assert read_config(folder).parameters == {"x": 1}
    assert read_requirements(folder) == "numpy\n"


def test_config_that_is_a_folder_a_pipe_or_too_big(tmp_path):
    folder = team(tmp_path, config=None)
    config = folder / "bot" / "config.json"
    config.mkdir()
    with pytest.raises(TeamCodeError, match="not a regular file"):
        read_config(folder)
    config.rmdir()

    os.mkfifo(config)
    # Nothing writes to the pipe: reading it would block for ever. A thread keeps a hang visible
    # as a failure instead of a stuck run.
    outcome: list = []
    reader = threading.Thread(target=lambda: outcome.append(_catch(read_config, folder)), daemon=True)
    reader.start()
    reader.join(30)
    assert outcome and isinstance(outcome[0], TeamCodeError) and "not a regular file" in str(outcome[0])
    config.unlink()

    config.write_text(json.dumps({"policy": {"class_name": "Hold", "parameters": {"pad": "x" * 70_000}}}))
    with pytest.raises(TeamCodeError, match="over the 65536-byte limit"):
        read_config(folder)
    config.write_text("[" * 50_000 + "]" * 50_000)
    with pytest.raises(TeamCodeError, match="over the 65536-byte limit|nested too deeply"):
        read_config(folder)
    config.write_text("[" * 30_000 + "]" * 30_000)
    with pytest.raises(TeamCodeError, match="nested too deeply"):
        read_config(folder)
    config.write_text('{"policy": {"class_name": "Hold", "parameters": {"n": ' + "9" * 5000 + "}}}")
    with pytest.raises(TeamCodeError, match="not valid JSON"):
        read_config(folder)


def _catch(fn, *args):
    try:
        return fn(*args)
    except Exception as exc:  # the outcome is inspected by the test
        return exc


def test_a_tree_without_bot_says_so(tmp_path):
    folder = tmp_path / "team"
    (folder / "src").mkdir(parents=True)
    with pytest.raises(TeamCodeError, match="no bot/ folder"):
        read_config(folder)


def test_missing_requirements_are_no_requirements(tmp_path):
    assert read_requirements(team(tmp_path)) == ""


def test_requirements_link_refused_before_any_image_is_built(tmp_path, outside):
    """Through the image builder (the real engine answers the base image's labels; nothing is built)."""
    from tasks.sandbox import docker_ready
    from tasks.sandbox.images import ImageBuildError, ensure_team_image

    if os.environ.get("ARENA_TESTS_NO_DOCKER") == "1":
        pytest.skip("ARENA_TESTS_NO_DOCKER=1")
    why = docker_ready()
    if why:
        pytest.fail(f"this test needs Docker: {why} (make base-image builds the image)")
    folder = team(tmp_path)
    (folder / "bot" / "requirements.txt").symlink_to(outside / "secret.txt")
    with pytest.raises(ImageBuildError) as caught:
        ensure_team_image(folder, team_id=196, commit="c" * 40)
    assert "bot/requirements.txt" in str(caught.value) and SECRET not in str(caught.value)
