"""Backends for the store contract suite.

Every contract test takes the `backend` fixture, parametrised over the real backends:
a SQLite file, DynamoDB through moto in-process (`mock_aws`), and DynamoDB through a moto
server on loopback. Tests ask capability flags
rather than which class they got (shared_between_processes, sqlite_file, atomic_batches).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from arena.settings import StoreSettings
from tasks.store import open_store

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "ap-southeast-2",
    "AWS_REGION": "ap-southeast-2",
}


@dataclass(frozen=True)
class Backend:
    name: str
    settings: StoreSettings
    # Another process can open the same store (not so for moto in-process: it lives in our memory).
    shared_between_processes: bool
    sqlite_file: Path | None = None
    # One upsert_datapoints call commits all or nothing (a SQLite transaction; DynamoDB batches
    # are 25 items each and a killed writer can leave part of a call written).
    atomic_batches: bool = False
    env: dict[str, str] = field(default_factory=dict)

    def open(self, create: bool = True, **options):
        """Created by default (the tests' `arena db init`); create=False opens what is there."""
        return open_store(self.settings, create=create, **options)


def _item_atomic_moto_server():
    """A ThreadedMotoServer whose requests run one at a time.

    DynamoDB applies each UpdateItem ADD and each conditional PutItem atomically on its item;
    moto answers requests on parallel threads with no item locks, so two processes can both read
    counter 182 and both be told 183 (seen here about one run in ten). Serialising requests
    restores DynamoDB's per-item guarantee while the eight client processes still interleave
    their calls freely, so the test still fails for client-side read-then-write code."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class ItemAtomicMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            lock = threading.Lock()

            def one_at_a_time(environ, start_response):
                with lock:
                    return list(app(environ, start_response))

            self._server = make_server(
                self._ip_address, self._port, one_at_a_time, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return ItemAtomicMotoServer(ip_address="127.0.0.1", port=0, verbose=False)


def _aws_env(monkeypatch, endpoint: str | None) -> dict[str, str]:
    env = dict(AWS_ENV)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    if endpoint:
        env["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(params=["sqlite", "moto", "moto_server"])
def backend(request, tmp_path, monkeypatch):
    prefix = f"t{uuid.uuid4().hex[:10]}"
    if request.param == "sqlite":
        path = tmp_path / "store" / "arena.db"
        settings = StoreSettings(url=f"sqlite:///{path}", table_prefix=prefix)
        yield Backend("sqlite", settings, shared_between_processes=True, sqlite_file=path, atomic_batches=True)
        return
    settings = StoreSettings(url="dynamodb", table_prefix=prefix)
    if request.param == "moto":
        from moto import mock_aws

        env = _aws_env(monkeypatch, None)
        with mock_aws():
            yield Backend("moto", settings, shared_between_processes=False, env=env)
        return
    endpoint = request.getfixturevalue("moto_endpoint")
    env = _aws_env(monkeypatch, endpoint)
    be = Backend("moto_server", settings, shared_between_processes=True, env=env)
    yield be
    try:
        be.open(create=False, require_tables=False).destroy()
    except Exception:
        pass  # the server dies with the session anyway


@pytest.fixture
def store(backend):
    return backend.open()
