"""The `docker` backend: the agent in a locked-down container (docker-py).

The protocol runs over a Unix socket in a per-run host folder bind-mounted read-only at
/run/arena: arena listens, the agent connects. That works with `network_mode=none` and
costs a few microseconds per message, where `docker attach` streams go through the daemon.

Every container is labelled `arena.sandbox=1` and removed in `close()`; an atexit hook and
SIGTERM/SIGINT handlers (protocol.py) close what a dying arena still has running, and
`prune_sandbox_containers()` (`arena sandbox prune`) removes leftovers of a killed host.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from arena.processes import pid_alive
from arena.settings import SandboxSettings
from tasks.sandbox.layout import ENVIRONMENT, HISTORY_TARGET, SANDBOX_UID, TEAM_DIR, WORK_DIR, agent_command
from tasks.sandbox.limits import SandboxLimits
from tasks.sandbox.protocol import PolicyCrashed, SandboxUnavailable, StartupTimeout, live_runs, tail_text

LABEL = "arena.sandbox"
RUN_LABEL = "arena.run"  # value: SandboxSettings.run_label
HOST_LABEL = "arena.host"  # the host whose arena process started it: its pid label means something only there
SOCKET_DIR = "/run/arena"


def docker_client(timeout: float = 30) -> Any:
    import docker

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:
        raise SandboxUnavailable(f"no Docker engine answers: {exc}") from None
    return client


class DockerRuntime:
    """One container running the agent of `image` under `limits`."""

    name = "docker"
    history_target = HISTORY_TARGET

    def __init__(self, image: str, limits: SandboxLimits, *, team_id: int | None = None, client: Any = None):
        self.image = image
        self.limits = limits
        self.team_id = team_id
        self._client = client
        self.container: Any = None
        self._listener: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._folder: str | None = None
        self._closed = False

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = docker_client()
        return self._client

    def container_config(self, history_dir: Path, socket_dir: str) -> dict[str, Any]:
        """Everything `containers.create` gets: the cage, in one place."""
        from docker.types import LogConfig, Mount

        limits = self.limits
        memory = limits.memory_bytes
        return dict(
            image=self.image,
            command=agent_command("python3", "--connect", f"{SOCKET_DIR}/agent.sock"),
            name=f"arena-sandbox-{self.team_id or 'local'}-{uuid.uuid4().hex[:10]}",
            hostname="sandbox",
            user=f"{SANDBOX_UID}:{SANDBOX_UID}",
            working_dir=TEAM_DIR,
            environment=dict(ENVIRONMENT),
            labels={LABEL: "1", RUN_LABEL: SandboxSettings().run_label, "arena.team": str(self.team_id or ""),
                    HOST_LABEL: socket.gethostname(), "arena.host_pid": str(os.getpid())},
            network_mode="none",
            read_only=True,
            tmpfs={WORK_DIR: f"rw,noexec,nosuid,nodev,size={limits.tmpfs_bytes}"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            pids_limit=limits.pids_limit,
            mem_limit=memory,
            memswap_limit=memory,
            nano_cpus=int(limits.cpus * 1e9),
            ipc_mode="private",
            log_config=LogConfig(type="json-file", config={"max-size": str(limits.log_cap_bytes), "max-file": "1"}),
            mounts=[
                Mount(target=HISTORY_TARGET, source=str(history_dir / "history.csv"), type="bind", read_only=True),
                Mount(target=SOCKET_DIR, source=socket_dir, type="bind", read_only=True),
            ],
            stdin_open=False,
            detach=True,
        )

    def start(self, history_dir: Path, deadline: float) -> tuple[int, int]:
        import docker.errors

        self._folder = tempfile.mkdtemp(prefix="arena-sock-")
        os.chmod(self._folder, 0o755)
        path = os.path.join(self._folder, "agent.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        os.chmod(path, 0o666)
        listener.listen(1)
        self._listener = listener
        try:
            self.container = self.client.containers.create(**self.container_config(history_dir, self._folder))
        except docker.errors.ImageNotFound:
            raise SandboxUnavailable(f"image {self.image} is missing; build it first") from None
        except docker.errors.APIError as exc:
            raise SandboxUnavailable(f"could not create the sandbox container: {exc}") from None
        try:
            self.container.start()
        except docker.errors.APIError as exc:
            raise SandboxUnavailable(f"could not start the sandbox container: {exc}") from None
        self._conn = self._accept(deadline)
        self._conn.setblocking(True)
        fd = self._conn.fileno()
        return fd, fd

    def _accept(self, deadline: float) -> socket.socket:
        """Wait for the agent to connect; notice a container that died first."""
        assert self._listener is not None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise StartupTimeout(
                    f"start-up time limit: the sandbox did not start within {self.limits.startup_timeout_s:g} s")
            self._listener.settimeout(min(0.25, left))
            try:
                conn, _ = self._listener.accept()
                return conn
            except TimeoutError:
                pass
            self.container.reload()
            if self.container.status not in ("created", "running"):
                what, _, _ = self.exit_reason()
                raise PolicyCrashed(f"the sandbox {what} before the agent started")

    def exit_reason(self) -> tuple[str, int | None, bool]:
        try:
            self.container.wait(timeout=5)
            self.container.reload()
            state = self.container.attrs.get("State", {})
        except Exception:
            return "stopped", None, False
        code = state.get("ExitCode")
        oom = bool(state.get("OOMKilled")) or code == 137 and "memory" in (state.get("Error") or "")
        if code == 137:
            return "was killed (SIGKILL)", code, oom
        if code is not None and code > 128:
            return f"was killed by signal {code - 128}", code, oom
        return f"exited with code {code}", code, oom

    def kill(self) -> None:
        if self.container is not None:
            try:
                self.container.kill()
            except Exception:
                pass

    def logs_tail(self, lines: int) -> str | None:
        if self.container is None:
            return None
        try:
            raw = self.container.logs(stdout=True, stderr=True, tail=lines)
        except Exception:
            return None
        return tail_text(raw, lines)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for sock in (self._conn, self._listener):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
        if self.container is not None:
            _remove(self.container)
        if self._folder:
            shutil.rmtree(self._folder, ignore_errors=True)


def _remove(container: Any, attempts: int = 6) -> None:
    """Remove a container, retrying: under load the engine can answer "removal already in
    progress" or time out, and a container left behind would hold the team's memory and pids."""
    import docker.errors

    for attempt in range(attempts):
        try:
            container.remove(force=True)
            return
        except docker.errors.NotFound:
            return
        except Exception:
            time.sleep(0.25 * (attempt + 1))


def label_filters(label: str) -> list[str]:
    """Docker label filters (all must match) for arena's objects marked `label`: only this run's
    when SandboxSettings.run_label is set, so a prune never touches another arena's."""
    run = SandboxSettings().run_label
    return [f"{label}=1"] + ([f"{RUN_LABEL}={run}"] if run else [])


def sandbox_containers(client: Any = None) -> list[Any]:
    client = client or docker_client()
    return client.containers.list(all=True, filters={"label": label_filters(LABEL)})


def prune_sandbox_containers(client: Any = None, *, only_dead_hosts: bool = True, this_host: bool = False) -> list[str]:
    """Remove sandbox containers left behind; by default only those whose arena process is gone.
    `this_host`: only containers started from this host (the scheduled prune: a daemon shared
    with other machines or other arenas' containers keeps theirs, whatever their pids)."""
    removed = []
    for container in sandbox_containers(client):
        if this_host and container.labels.get(HOST_LABEL) != socket.gethostname():
            continue
        host_pid = container.labels.get("arena.host_pid", "")
        if only_dead_hosts and host_pid.isdigit() and pid_alive(int(host_pid)):
            if int(host_pid) != os.getpid() or live_runs():
                continue  # its arena still runs it
        try:
            container.remove(force=True)
            removed.append(container.name)
        except Exception:
            pass
    return removed
