"""SandboxLimits from settings, team overrides and CLI flags; requirement filtering."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from tasks.sandbox import SandboxLimits, configured_backend, limits_from_cli
from tasks.sandbox.images import ImageBuildError, image_tag, requirements_to_install
from tasks.sandbox.limits import parse_size
from tests.sandbox.conftest import write_team

BASE = {"numpy": "1.24.2", "pandas": "1.5.3", "python-dateutil": "2.8.2"}


def test_limits_come_from_settings_then_team_then_cli(monkeypatch):
    monkeypatch.setenv("ARENA_SANDBOX_STEP_TIMEOUT_S", "3")
    monkeypatch.setenv("ARENA_SANDBOX_MEMORY", "2g")
    assert SandboxLimits.from_settings().step_timeout_s == 3.0
    team = {"step_timeout": 5, "memory": "3g", "pids_limit": 64}
    limits = limits_from_cli(step_timeout=7, cpus=2, overrides=team)
    assert (limits.step_timeout_s, limits.memory, limits.cpus, limits.pids_limit) == (7.0, "3g", 2.0, 64)
    assert limits.memory_bytes == 3 * 1024**3
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.step_timeout_s = 1


def test_limits_are_checked():
    with pytest.raises(ValueError, match="unknown sandbox limit 'disk'"):
        SandboxLimits.from_settings(overrides={"disk": "1g"})
    with pytest.raises(ValidationError):
        limits_from_cli(step_timeout=-1)
    with pytest.raises(ValueError, match="not like 512m"):
        limits_from_cli(memory="lots")
    assert parse_size("512m") == 512 * 1024**2 and parse_size("64k") == 65536 and parse_size(1000) == 1000


def test_the_backend_is_the_flag_else_the_setting(monkeypatch):
    monkeypatch.setenv("ARENA_SANDBOX_BACKEND", "process")
    assert configured_backend() == "process" and configured_backend("docker") == "docker"


def test_requirements_the_base_satisfies_are_skipped():
    text = "# deps\nnumpy\npandas>=1.3\npandas<1.0 ; python_version < '3'\nscikit-learn==1.3.2  # model\n"
    assert requirements_to_install(text, BASE) == ["scikit-learn==1.3.2"]
    assert requirements_to_install("pandas==2.2.0\n", BASE) == ["pandas==2.2.0"]


@pytest.mark.parametrize("line", ["-r other.txt", "--index-url http://evil/simple", "git+https://x/y.git",
                                  "./local-package", "https://x/y.whl"])
def test_requirements_reaching_past_arena_are_refused(line):
    with pytest.raises(ImageBuildError, match="line 1"):
        requirements_to_install(line, BASE)


def test_image_tags_name_team_and_commit_or_content(tmp_path):
    team = write_team(tmp_path / "t", "class P: pass\n", "P")
    assert image_tag(team, 123, "ABCDEF0123456789abcdef") == "arena-team-123:abcdef012345"
    first = image_tag(team, 123)
    assert first.startswith("arena-team-123:h-") and image_tag(team, 123) == first
    (team / "bot" / "policies" / "team.py").write_text("class P: x = 1\n")
    assert image_tag(team, 123) != first
    assert image_tag(team).startswith("arena-team-local:h-")
