"""bot/requirements.txt as 2024 repos wrote it: the template's own `flask==3.0.` (a version that
ends in a dot) is read as 3.0 and the team is told; a package with no installable wheel gets a
message naming it and the two ways out. No network: pip is pointed at a local folder."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tasks.sandbox import ImageBuildError, team_policy_factory
from tasks.sandbox.deps import download_wheels
from tasks.sandbox.images import requirement_notes, requirements_to_install
from tests.sandbox.conftest import write_team

BASE = {"numpy": "1.24.2", "pandas": "1.5.3"}
TEMPLATE_REQUIREMENTS = "flask==3.0.\npandas>=1.5.\nnumpy  # base\n"


def test_a_version_ending_in_a_dot_is_read_without_it_and_noted():
    assert requirements_to_install(TEMPLATE_REQUIREMENTS, BASE) == ["flask==3.0"]
    notes = requirement_notes(TEMPLATE_REQUIREMENTS)
    assert len(notes) == 2
    assert notes[0].startswith("bot/requirements.txt line 1: 'flask==3.0.' was read as 'flask==3.0'")
    assert requirement_notes("flask==3.0\nnumpy>=1.2,<2.\n") == [
        "bot/requirements.txt line 2: 'numpy>=1.2,<2.' was read as 'numpy>=1.2,<2' (a version cannot end with a "
        "dot; the 2024 tools accepted it, today's pip does not)"]
    with pytest.raises(ImageBuildError, match="line 1"):
        requirements_to_install("flask==3..0\n", BASE)  # only the trailing dot is forgiven


def test_the_process_backend_says_requirements_were_not_installed(tmp_path):
    team = write_team(tmp_path / "team", "from policies.policy import Policy\nclass P(Policy):\n"
                      "    def act(self, e, i):\n        return 0, 0\n", "P", requirements="pandas>=1.5.\n")
    factory = team_policy_factory(team, backend="process")
    assert factory.notes[0].startswith("bot/requirements.txt line 1: 'pandas>=1.5.' was read as 'pandas>=1.5'")
    assert factory.notes[1] == "bot/requirements.txt was not installed: the process sandbox runs arena's own Python"


def _sdist_only(folder):
    """A package that exists only as source (an sdist), in a local index folder."""
    source = folder / "src"
    (source / "onlysource").mkdir(parents=True)
    (source / "onlysource" / "__init__.py").write_text("")
    (source / "setup.py").write_text("from setuptools import setup\nsetup(name='onlysource', version='1.0', "
                                     "packages=['onlysource'])\n")
    index = folder / "index"
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(index)], cwd=source, check=True,
                   capture_output=True)
    return index


@pytest.mark.parametrize("requirement", ["onlysource==1.0", "arena-no-such-package-xyz==1.0"])
def test_no_installable_wheel_names_the_package_and_the_ways_out(tmp_path, requirement):
    index = _sdist_only(tmp_path)
    with pytest.raises(ImageBuildError) as caught:
        download_wheels([requirement], tmp_path / "wheels", {"python": "3.11", "machine": "x86_64"},
                        extra_args=f"--no-index --find-links {index}")
    message = str(caught.value)
    assert f"no installable wheel of {requirement} for Python 3.11 on Linux x86_64" in message
    assert "pin a version that publishes a wheel" in message and "copy pure-Python code into bot/" in message
    assert "\n" not in message


@pytest.mark.docker
def test_a_template_style_requirements_file_builds_and_runs_in_docker(tmp_path, docker_engine, market, rules):
    from battery_sim.evaluator import evaluate

    team = write_team(tmp_path / "team", "from policies.policy import Policy\nclass P(Policy):\n"
                      "    def act(self, e, i):\n        return 0, 1\n", "P", requirements="pandas>=1.5.\nnumpy\n")
    factory = team_policy_factory(team, backend="docker", team_id=153)
    assert [n.split(":")[0] for n in factory.notes] == ["bot/requirements.txt line 1"]
    start, end = int(market.interval_end[2016]), int(market.interval_end[2040])
    result = evaluate(market, rules, factory, start=start, end=end)
    assert result["status"] == "success", result["error"]
