"""Shared test helpers: where the bundled data lives, an isolated arena home per test, and the
run label every sandbox container and team image of this test session carries."""

import os
import tempfile
import uuid
from pathlib import Path

import pytest

# Before Prefect is first imported: no telemetry, a throw-away PREFECT_HOME. Then imported here,
# once, so its log handlers bind the real stderr: imported first inside a CliRunner call, they
# would keep that call's captured stream, closed once it returns, and every later flow test's
# logging would fail with "I/O operation on closed file".
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="arena-prefect-home-"))
os.environ.setdefault("PREFECT_LOGGING_TO_API_BATCH_INTERVAL", "0.3")
import prefect  # noqa: E402,F401
import prefect.main  # noqa: E402,F401  (`import prefect` alone is lazy: this one sets up its logging)

# One label value per test session, inherited by every process the tests start: the Docker
# teardowns and prunes look only at what this run made, so another arena (or a second test run)
# on the same daemon neither fails the suite nor loses its containers to it.
RUN_LABEL = os.environ.setdefault("ARENA_SANDBOX_RUN_LABEL", f"tests-{uuid.uuid4().hex[:12]}")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
APRIL_NAIVE = DATA / "april15-may7_2023.csv"
APRIL_UTC_PV = DATA / "sa1_2023-04-15_2023-05-06_utc_pv.csv"
LIVE_SAMPLE = DATA / "sa1_live_sample_2024-04-02.csv"
EXAMPLE_TEAMS = ROOT / "examples" / "teams"


@pytest.fixture(scope="session")
def moto_endpoint():
    """One moto server on loopback for the whole session (store and flow tests alike); each
    test uses its own table prefix."""
    from tests.store.conftest import _item_atomic_moto_server

    server = _item_atomic_moto_server()
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def arena_home(tmp_path, monkeypatch):
    """A fresh ARENA_HOME with its own SQLite store (made as `arena db init` makes it: nothing
    else creates one), so tests never share state."""
    from tasks.store import open_store

    home = tmp_path / "arena-home"
    monkeypatch.setenv("ARENA_HOME", str(home))
    monkeypatch.setenv("ARENA_STORE_URL", f"sqlite:///{home / 'arena.db'}")
    monkeypatch.setenv("ARENA_TABLE_PREFIX", "test")
    open_store(create=True).close()
    return home


@pytest.fixture(scope="session")
def harness():
    """The one Prefect test harness of the session (a temporary local API and database), for
    every test that runs flows or reads Prefect objects back; started once, on first use."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
