"""Dependency images on the real engine: one per distinct requirement set, shared by teams and
commits; a code-only commit adds a thin layer and installs nothing; no wheel in any kept image;
unused deps images and old wheels pruned. Wheels come from a local folder (no index), except
the two tests that ask the real package index about a package without a wheel."""

from __future__ import annotations

import os
import time

import pytest

from arena.settings import SandboxSettings
from tasks.sandbox.deps import (
    DEPS_LABEL,
    STAGE_LABEL,
    USED_BY_LABEL,
    canonical_requirements,
    deps_images,
    ensure_deps_image,
    prune_deps_images,
    prune_wheel_cache,
)
from tasks.sandbox.images import ImageBuildError, base_image_info, ensure_team_image
from tests.conftest import RUN_LABEL
from tests.sandbox.conftest import write_team
from tests.sandbox.test_images import USES_TOY, _wheel

pytestmark = pytest.mark.docker
MINE = {"arena.tests": RUN_LABEL}  # on the containers these tests run


@pytest.fixture
def wheelhouse(tmp_path, monkeypatch):
    folder = tmp_path / "wheelhouse"
    folder.mkdir()
    _wheel(folder, version="0.1")
    _wheel(folder, version="0.2")
    monkeypatch.setenv("ARENA_SANDBOX_PIP_DOWNLOAD_ARGS", f"--no-index --find-links {folder}")
    return folder


@pytest.fixture
def made(docker_engine):
    """Image references a test made; removed afterwards, team images before the deps images under them."""
    refs: list[str] = []
    yield refs
    for ref in sorted(set(refs), key=lambda r: not r.startswith("arena-team-")):  # children first
        try:
            docker_engine.images.remove(ref, force=True)
        except Exception:
            pass


def _team(folder, answer=42, requirements="arenatoy==0.1\n"):
    source = USES_TOY.replace("float(arenatoy.ANSWER)", f"float(arenatoy.ANSWER + {answer - 42})")
    return write_team(folder, source, "Toy", requirements=requirements)


def _deps_of(client, tag):
    return client.images.get(tag).labels[USED_BY_LABEL]


def _commit(name):
    import hashlib

    return hashlib.sha1(f"{RUN_LABEL}-{name}".encode()).hexdigest()


def test_canonical_requirements_ignore_order_spacing_and_name_spelling():
    assert canonical_requirements(["Flask == 3.0", "numpy>=1.2"]) == canonical_requirements(["numpy >=1.2", "flask==3.0"])
    assert canonical_requirements(["flask==3.0"]) != canonical_requirements(["flask==3.0.1"])


def test_teams_with_the_same_requirements_share_one_deps_image(tmp_path, wheelhouse, docker_engine, made):
    logs: list[str] = []
    a = ensure_team_image(_team(tmp_path / "a"), team_id=191, commit=_commit("a"), log=logs.append)
    b = ensure_team_image(_team(tmp_path / "b", requirements="# same set, written otherwise\nArenaToy == 0.1\n"),
                          team_id=192, commit=_commit("b"), log=logs.append)
    made += [a, b]
    deps = _deps_of(docker_engine, a)
    made.append(deps)
    assert deps and _deps_of(docker_engine, b) == deps
    assert sum("building dependency image" in line for line in logs) == 1
    assert any("reusing dependency image" in line for line in logs)
    assert docker_engine.images.get(deps).labels[DEPS_LABEL] == "1"
    assert docker_engine.images.get(a).labels[DEPS_LABEL] == ""  # a team image is no deps image


def test_a_code_only_commit_adds_a_thin_layer_and_installs_nothing(tmp_path, wheelhouse, docker_engine, made):
    team = _team(tmp_path / "team")
    first = ensure_team_image(team, team_id=193, commit=_commit("c1"))
    made.append(first)
    deps = docker_engine.images.get(_deps_of(docker_engine, first))
    made.append(deps.id)
    (team / "bot" / "policies" / "team.py").write_text(_team(tmp_path / "other", answer=7).joinpath(
        "bot", "policies", "team.py").read_text())
    logs: list[str] = []
    second = ensure_team_image(team, team_id=193, commit=_commit("c2"), log=logs.append)
    made.append(second)
    assert _deps_of(docker_engine, second) == deps.id
    assert docker_engine.images.get(deps.id).attrs["Created"] == deps.attrs["Created"]  # not rebuilt
    assert not any("building dependency image" in line for line in logs)
    # The new image is the deps image plus the team's layer: its history ends with the deps
    # image's, and nothing above it ran pip.
    history = docker_engine.images.get(second).history()
    below = deps.history()
    assert [h["Id"] for h in history[-len(below):]] == [h["Id"] for h in below]
    top = [h["CreatedBy"] for h in history[:-len(below)]]
    assert top and not any("pip" in line for line in top)
    assert docker_engine.images.get(second).id != docker_engine.images.get(first).id
    out = docker_engine.containers.run(second, ["python3", "-c", "import sys; sys.path.insert(0, 'bot'); "
                                                "from policies.team import Toy; print(Toy().act(None, None))"],
                                       working_dir="/opt/team", network_mode="none", remove=True, labels=MINE)
    assert out.decode().strip() == "(0.0, 7.0)"


def test_no_wheel_is_left_in_any_kept_image(tmp_path, wheelhouse, docker_engine, made):
    tag = ensure_team_image(_team(tmp_path / "team"), team_id=194, commit=_commit("w"))
    made += [tag, _deps_of(docker_engine, tag)]
    out = docker_engine.containers.run(
        tag, ["sh", "-c", "find / -xdev -name '*.whl' -o -name wheels -type d | head; python3 -c 'import arenatoy'"],
        user="0:0", network_mode="none", remove=True, labels=MINE)
    assert out.decode().strip() == ""
    for ref in (tag, _deps_of(docker_engine, tag)):
        assert not any("/tmp/wheels" in h["CreatedBy"] for h in docker_engine.images.get(ref).history())
    # the install stage (the only place the wheels ever were) is gone
    assert docker_engine.images.list(all=True, filters={"label": [STAGE_LABEL, f"arena.run={RUN_LABEL}"]}) == []


def test_prune_removes_unused_deps_images_and_keeps_used_ones(tmp_path, wheelhouse, docker_engine, made):
    used_by = ensure_team_image(_team(tmp_path / "team"), team_id=195, commit=_commit("p"))
    used = _deps_of(docker_engine, used_by)
    made += [used_by, used]
    settings = SandboxSettings()
    info = base_image_info(docker_engine, settings.base_image)
    unused = ensure_deps_image(docker_engine, ["arenatoy==0.2"], info, settings, settings.base_image, tmp_path / "ctx")
    made.append(unused.id)
    assert {used, unused.id} <= {image.id for image in deps_images(docker_engine)}
    assert prune_deps_images(docker_engine, grace_s=3600) == []  # both are too young to judge
    gone = prune_deps_images(docker_engine, grace_s=0)
    left = {image.id for image in deps_images(docker_engine)}
    assert unused.tags[0] in gone and unused.id not in left
    assert used in left and docker_engine.images.get(used_by).labels[USED_BY_LABEL] == used


def test_the_wheel_cache_is_bounded_least_recently_used_first(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    for age, name in enumerate(["new.whl", "mid.whl", "old.whl"]):
        path = cache / name
        path.write_bytes(b"x" * 1000)
        os.utime(path, (time.time() - 1000 * age,) * 2)
    (cache / ".lock").write_text("")
    assert prune_wheel_cache(cache, 2500) == ["old.whl"]
    assert prune_wheel_cache(cache, 0, keep={cache / "mid.whl"}) == ["new.whl"]
    assert sorted(p.name for p in cache.iterdir()) == [".lock", "mid.whl"]  # kept: the build's own


def test_a_build_keeps_the_cache_within_its_limit(tmp_path, wheelhouse, wheel_cache, monkeypatch, docker_engine, made):
    stale = wheel_cache / "stale-1.0-py3-none-any.whl"
    stale.write_bytes(b"x" * 4096)
    os.utime(stale, (time.time() - 86400,) * 2)
    monkeypatch.setenv("ARENA_SANDBOX_WHEEL_CACHE_MB", "0")
    tag = ensure_team_image(_team(tmp_path / "team"), team_id=196, commit=_commit("cache"))
    made += [tag, _deps_of(docker_engine, tag)]
    assert sorted(p.name for p in wheel_cache.glob("*.whl")) == ["arenatoy-0.1-py3-none-any.whl"]


# ---- the real package index (small packages only) -------------------------------------------------
def test_an_sdist_only_package_is_explained(tmp_path, monkeypatch, docker_engine):
    monkeypatch.delenv("ARENA_SANDBOX_PIP_DOWNLOAD_ARGS", raising=False)
    team = _team(tmp_path / "team", requirements="docopt==0.6.2\n")  # only ever released as source
    with pytest.raises(ImageBuildError) as caught:
        ensure_team_image(team, team_id=197)
    message = str(caught.value)
    assert message.startswith("bot/requirements.txt: no installable wheel of docopt==0.6.2 for Python 3.11")
    assert "docopt publishes only source code" in message
    assert "pin a version that publishes a wheel" in message and "copy pure-Python code into bot/" in message


def test_a_package_that_does_not_exist_is_explained(tmp_path, monkeypatch, docker_engine):
    monkeypatch.delenv("ARENA_SANDBOX_PIP_DOWNLOAD_ARGS", raising=False)
    name = "arena-no-such-package-7f3c9e2b"
    team = _team(tmp_path / "team", requirements=f"{name}==1.0\n")
    with pytest.raises(ImageBuildError) as caught:
        ensure_team_image(team, team_id=197)
    message = str(caught.value)
    assert f"no installable wheel of {name}==1.0" in message
    assert f"no package named {name!r} exists on the package index (check the spelling)" in message
    assert "copy pure-Python code into bot/" in message
