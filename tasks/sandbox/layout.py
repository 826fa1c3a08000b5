"""What the agent sees, whatever backend runs it: the same paths, user and environment in a
Docker container and in the `process` backend's jail, so a team's code meets one world."""

from __future__ import annotations

TEAM_DIR = "/opt/team"             # the team's repository, read-only; the policy's working directory,
                                   # as in 2024, so `bot/data/...` opened by relative path is found
ARENA_DIR = "/opt/arena"           # battery_sim (the agent and what it imports), read-only
HISTORY_TARGET = "/data/history.csv"  # the history the team is entitled to, read-only
WORK_DIR = "/tmp"                  # the only writable place (a small tmpfs)
SANDBOX_UID = 10001                # the container's user; the process jail picks a fresh uid per run
# Not the sandbox: the arena image (tasks/sandbox/app_image.py) of the Docker work pool's job containers.
APP_REPOSITORY = "arena-app"       # tagged <key> and latest
APP_DIR = "/opt/arena-app"         # arena's packages there; the deployments' working directory

ENVIRONMENT = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": WORK_DIR,
    "LANG": "C.UTF-8",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONPATH": ARENA_DIR,
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def agent_command(python: str, *extra: str) -> list[str]:
    """The agent's command line: no host path and no data path in it, only the team folder."""
    return [python, "-m", "battery_sim.agent", *extra, "--team-dir", TEAM_DIR]
