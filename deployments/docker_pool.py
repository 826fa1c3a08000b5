"""The Docker work pool, from this host's settings: `python -m deployments.docker_pool`.

    deploy_docker()     # the arena image (built unless current), the `arena-docker` pool, and
                        # every DOCKER_DEPLOYMENTS entry with job variables from this host's
                        # environment (every ARENA_* variable but secrets, the home, the prefix)

prefect.yaml holds the same deployments for `prefect deploy` (with only the home and the table
prefix templated from the environment); this is the way that carries every setting across.
Then, on each worker host: `prefect worker start --pool arena-docker --type docker`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectNotFound
from prefect.utilities.callables import parameter_schema
from prefect_docker.worker import DockerWorker

from arena.settings import load_settings
from deployments.definitions import (
    DOCKER_DEPLOYMENTS,
    DOCKER_POOL,
    DOCKER_PULL_STEPS,
    DOCKER_SOCKET,
    docker_job_variables,
)
from tasks.sandbox.app_image import ensure_app_image
from tasks.sandbox.docker import RUN_LABEL
from tasks.store import sqlite_path

# Deployment job variables are shown in the Prefect UI: secrets stay on the worker host's side.
_SECRET = re.compile(r"SECRET|TOKEN|PASSWORD|KEY", re.IGNORECASE)


def job_variables(image: str, read_only: tuple[str, ...] = ()) -> dict[str, Any]:
    """The job variables of this host: its arena settings (paths made absolute: the job runs in
    the image's folder), its home and every other folder its settings name, its uid (when not root)."""
    settings = load_settings()
    env = {k: v for k, v in os.environ.items() if k.startswith("ARENA_") and not _SECRET.search(k)}
    folders = [settings.submissions.checkout_dir, settings.submissions.mirror_dir, settings.site.folder,
               settings.flows.slot_dir, settings.sandbox.wheel_cache_dir]
    database = sqlite_path(settings.store.url)
    if database is not None:
        env["ARENA_STORE_URL"] = f"sqlite:///{database.resolve()}"
        folders.append(database.resolve().parent)
    if "://" not in settings.store.objects_url:
        env["ARENA_OBJECTS_URL"] = str(Path(settings.store.objects_url).resolve())
        folders.append(Path(env["ARENA_OBJECTS_URL"]))
    outside = sorted({str(f.resolve()) for f in folders if not f.resolve().is_relative_to(settings.home)})
    for folder in outside:
        Path(folder).mkdir(parents=True, exist_ok=True)  # or the daemon makes it, as root
    labels = {RUN_LABEL: settings.sandbox.run_label} if settings.sandbox.run_label else {}
    user, groups = None, ()
    if os.getuid() != 0:  # files the job writes in the home stay the organiser's
        user, groups = f"{os.getuid()}:{os.getgid()}", (str(os.stat(DOCKER_SOCKET).st_gid),)
    return docker_job_variables(str(settings.home), settings.store.table_prefix, image=image, env=env,
                                read_only=read_only, writable=tuple(outside), labels=labels, user=user,
                                groups=groups)


def ensure_docker_pool(client: Any, name: str = DOCKER_POOL) -> None:
    try:
        client.read_work_pool(name)
    except ObjectNotFound:
        client.create_work_pool(WorkPoolCreate(name=name, type="docker",
                                               base_job_template=DockerWorker.get_default_base_job_template()))


def deploy_docker(*, image: str | None = None, read_only: tuple[str, ...] = (), pool: str = DOCKER_POOL,
                  log: Any = print) -> list[UUID]:
    """Every Docker deployment on `pool` (created when missing); `image`: the arena image (default:
    built now unless current, by its content key)."""
    image = image or ensure_app_image(log=log)
    variables = job_variables(image, read_only)
    (load_settings().home / "tmp").mkdir(parents=True, exist_ok=True)
    ids = []
    with get_client(sync_client=True) as client:
        ensure_docker_pool(client, pool)
        for spec in DOCKER_DEPLOYMENTS:
            flow = spec.flow.load_flow()
            ids.append(client.create_deployment(
                flow_id=client.create_flow_from_name(flow.name), name=spec.name, description=spec.description,
                work_pool_name=pool, work_queue_name="default", entrypoint=spec.flow.entrypoint,
                pull_steps=list(DOCKER_PULL_STEPS), job_variables=variables, tags=list(spec.tags),
                parameters=dict(spec.flow.parameters), parameter_openapi_schema=parameter_schema(flow).model_dump(),
            ))
            log(f"deployed {spec.full_name} on work pool {pool} ({image})")
    return ids


if __name__ == "__main__":
    deploy_docker()
