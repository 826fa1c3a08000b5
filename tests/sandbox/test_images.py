"""Team images on the real engine: offline requirement installs, reuse, prune, and the
clean-up of containers when the arena process is killed."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import pytest

from tasks.sandbox import team_policy_factory
from tasks.sandbox.docker import prune_sandbox_containers
from tasks.sandbox.images import ImageBuildError, ensure_team_image, prune_team_images, team_images
from tests.conftest import RUN_LABEL
from tests.sandbox.conftest import ROOT, sandbox_containers, write_team

pytestmark = pytest.mark.docker


def _wheel(folder, name="arenatoy", version="0.1"):
    """A pure-Python wheel made by hand, so the test needs no index."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    files = {
        f"{name}/__init__.py": "ANSWER = 42\n",
        f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{name}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: arena-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(path, "w") as z:
        for arcname, text in files.items():
            data = text.encode()
            z.writestr(arcname, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arcname},sha256={digest},{len(data)}")
        record.append(f"{name}-{version}.dist-info/RECORD,,")
        z.writestr(f"{name}-{version}.dist-info/RECORD", "\n".join(record) + "\n")
    return path


USES_TOY = '''
import arenatoy
from policies.policy import Policy

class Toy(Policy):
    def act(self, external_state, internal_state):
        return 0.0, float(arenatoy.ANSWER)
'''


def test_requirements_install_offline_from_host_wheels(tmp_path, monkeypatch, docker_engine, market):
    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    _wheel(wheels)
    monkeypatch.setenv("ARENA_SANDBOX_PIP_DOWNLOAD_ARGS", f"--no-index --find-links {wheels}")
    team = write_team(tmp_path / "team", USES_TOY, "Toy", requirements="arenatoy==0.1\nnumpy\n")
    factory = team_policy_factory(team, backend="docker", team_id=198)
    handle = factory()
    try:
        handle.load_historical(market.history(3))
        from battery_sim.observation import Observation

        assert handle.act(Observation(market.columns, 3), {}) == [0.0, 42.0]
    finally:
        handle.close()
    # reused: same tag, no rebuild (the image id does not change)
    image = docker_engine.images.get(factory.image)
    try:
        assert ensure_team_image(team, team_id=198) == factory.image
        assert docker_engine.images.get(factory.image).id == image.id
    finally:  # this run's wheels made its dependency image: both go, the team image first
        docker_engine.images.remove(image.id, force=True)
        docker_engine.images.remove(image.labels["arena.deps"])


def test_unresolvable_requirement_is_the_teams_error(tmp_path, monkeypatch, docker_engine):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("ARENA_SANDBOX_PIP_DOWNLOAD_ARGS", f"--no-index --find-links {empty}")
    team = write_team(tmp_path / "team", USES_TOY, "Toy", requirements="arenatoy==9.9\n")
    with pytest.raises(ImageBuildError, match="no installable wheel of arenatoy==9.9"):
        ensure_team_image(team, team_id=198)


def test_images_are_listed_and_pruned(tmp_path, docker_engine):
    team = write_team(tmp_path / "team", "from policies.policy import Policy\nclass A(Policy):\n"
                      "    def act(self, e, i):\n        return 0, 0\n", "A")
    # Commits of this run only (the run label in the hash): the listing and the prune see this
    # run's images, so team 197's images of another run on the same daemon stay where they are.
    commit_a, commit_b = (hashlib.sha1(f"{RUN_LABEL}-{c}".encode()).hexdigest() for c in "ab")
    first = ensure_team_image(team, team_id=197, commit=commit_a)
    second = ensure_team_image(team, team_id=197, commit=commit_b)
    try:
        tags = {tag for row in team_images(docker_engine) for tag in row["tags"]}
        assert {first, second} <= tags
        gone = prune_team_images(docker_engine, keep=1, team_id=197)
        remaining = {tag for row in team_images(docker_engine) if row["team"] == "197" for tag in row["tags"]}
        assert remaining == {second} and first in ", ".join(gone)
    finally:
        prune_team_images(docker_engine, keep=0, team_id=197)


HOST = '''
import sys, time
sys.path.insert(0, {root!r})
from battery_sim.data import load_market_csv
from tasks.sandbox import team_policy_factory
data = load_market_csv({data!r})
handle = team_policy_factory({team!r}, backend="docker", team_id=196)()
handle.load_historical(data.history(10))
print("started", flush=True)
time.sleep(600)
'''


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_containers_are_removed_when_arena_is_killed(tmp_path, docker_engine, signum):
    team = ROOT / "examples" / "teams" / "night-owl"
    script = textwrap.dedent(HOST.format(root=str(ROOT), data=str(ROOT / "data" / "april15-may7_2023.csv"),
                                         team=str(team)))
    host = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert host.stdout.readline().strip() == "started"
        mine = [c for c in sandbox_containers(docker_engine) if c.labels.get("arena.host_pid") == str(host.pid)]
        assert len(mine) == 1
        host.send_signal(signum)
        host.wait(timeout=300)  # a loaded engine removes slowly; the bound only stops a hang
    finally:
        if host.poll() is None:
            host.kill()
    assert host.returncode != 0
    assert [c for c in sandbox_containers(docker_engine) if c.labels.get("arena.host_pid") == str(host.pid)] == []


def test_prune_removes_containers_of_a_dead_arena(docker_engine, tmp_path):
    """SIGKILL leaves no chance to clean up; `arena sandbox prune` does it afterwards."""
    team = ROOT / "examples" / "teams" / "night-owl"
    script = textwrap.dedent(HOST.format(root=str(ROOT), data=str(ROOT / "data" / "april15-may7_2023.csv"),
                                         team=str(team)))
    host = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert host.stdout.readline().strip() == "started"
    finally:
        os.kill(host.pid, signal.SIGKILL)
        host.wait()
    left = [c.name for c in sandbox_containers(docker_engine) if c.labels.get("arena.host_pid") == str(host.pid)]
    assert len(left) == 1
    assert left[0] in prune_sandbox_containers(docker_engine)
    # The engine may list a container a moment after removing it; wait for the outcome, however
    # long a loaded engine takes (the bound only keeps a broken engine from hanging the suite).
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and left[0] in {c.name for c in sandbox_containers(docker_engine)}:
        time.sleep(0.5)
    assert left[0] not in {c.name for c in sandbox_containers(docker_engine)}
    assert sandbox_containers(docker_engine) == []  # of this run: nothing else of ours is left either
