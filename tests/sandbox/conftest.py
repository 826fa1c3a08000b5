"""Shared pieces of the sandbox tests: the Docker check (fail, never skip, unless
ARENA_TESTS_NO_DOCKER=1), team repos written on the fly, the hostile repo's factories."""

from __future__ import annotations

import dataclasses
import json
import os
import textwrap
from pathlib import Path

import pytest

from battery_sim.data import load_market_csv
from battery_sim.rules import get_ruleset
from battery_sim.teamcode import PolicyConfig
from tasks.sandbox import SandboxLimits, TeamPolicyFactory, docker_ready, team_policy_factory

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HOSTILE = HERE / "hostile"
DATA_FILE = ROOT / "data" / "april15-may7_2023.csv"
TEMPLATE_BASE = '''
from abc import ABC, abstractmethod


class Policy(ABC):
    def __init__(self, **kwargs):
        super().__init__()

    @abstractmethod
    def act(self, external_state, internal_state):
        pass

    def load_historical(self, external_states):
        pass
'''


@pytest.fixture(scope="session")
def docker_engine():
    """Docker tests need the engine and the base image; in CI a missing one is a failure."""
    if os.environ.get("ARENA_TESTS_NO_DOCKER") == "1":
        pytest.skip("ARENA_TESTS_NO_DOCKER=1")
    why = docker_ready()
    if why:
        pytest.fail(f"the sandbox tests need Docker: {why} (make base-image builds the image)")
    import docker

    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(autouse=True)
def wheel_cache(tmp_path_factory, monkeypatch):
    """Each test's own wheel cache (never the user's arena home)."""
    folder = tmp_path_factory.mktemp("wheel-cache")
    monkeypatch.setenv("ARENA_SANDBOX_WHEEL_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def market():
    return load_market_csv(DATA_FILE)


@pytest.fixture(scope="session")
def rules():
    return get_ruleset("gbh2024-tariff")


def write_team(folder: Path, policy_source: str, class_name: str, parameters: dict | None = None,
               requirements: str = "") -> Path:
    """A team repo in the 2024 layout with one policy module."""
    policies = folder / "bot" / "policies"
    policies.mkdir(parents=True)
    (policies / "__init__.py").write_text("")
    (policies / "policy.py").write_text(TEMPLATE_BASE)
    (policies / "team.py").write_text(textwrap.dedent(policy_source))
    (folder / "bot" / "config.json").write_text(
        json.dumps({"policy": {"class_name": class_name, "parameters": parameters or {}}}))
    (folder / "bot" / "requirements.txt").write_text(requirements)
    return folder


def variant(factory: TeamPolicyFactory, class_name: str | None = None, limits: dict | None = None,
            **parameters) -> TeamPolicyFactory:
    """The same team image with another class/parameters or limits (one build serves every case)."""
    config = PolicyConfig(class_name or factory.config.class_name, parameters)
    new_limits = dataclasses.replace(factory.limits, **(limits or {}))
    return TeamPolicyFactory(factory.team_dir, factory.backend, new_limits, config, factory.image, factory.team_id)


def sandbox_containers(client) -> list:
    """This test run's sandbox containers (ARENA_SANDBOX_RUN_LABEL, set in tests/conftest.py), never
    another arena's on the same daemon."""
    from tasks.sandbox.docker import sandbox_containers as of_this_run

    return of_this_run(client)


@pytest.fixture(scope="session")
def hostile_docker(docker_engine):
    return team_policy_factory(HOSTILE, backend="docker", team_id=199,
                               limits=SandboxLimits.from_settings(overrides={"step_timeout_s": 1.0}))


@pytest.fixture(scope="session")
def hostile_process():
    return team_policy_factory(HOSTILE, backend="process", team_id=199,
                               limits=SandboxLimits.from_settings(overrides={"step_timeout_s": 1.0}))


@pytest.fixture(params=["docker", "process"])
def hostile(request):
    """The hostile repo on each backend (docker ones carry the docker mark via the id)."""
    if request.param == "docker":
        return request.getfixturevalue("hostile_docker")
    return request.getfixturevalue("hostile_process")


def pytest_collection_modifyitems(items):
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and HERE in Path(str(item.fspath)).parents and "docker" in callspec.id.split("-"):
            item.add_marker(pytest.mark.docker)
