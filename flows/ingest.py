"""The `ingest-prices` flow: the newest intervals (or a backfill, or a recorded file) into the store.
Its deployment has concurrency limit 1, so a slow run never overlaps the next. When it stores an
interval newer than any before, it starts the `evaluate-round` deployment at once (a chained
deployment run, not awaited), so every team's live run advances within minutes of the ingest;
the hourly round stays as the safety net."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment
from prefect.runtime import deployment

from arena.scoring import parse_time
from arena.settings import MarketSettings
from flows import names
from flows._prefect import open_run_store
from flows._retry import PLATFORM_RETRIES
from tasks.prices import ingest
from tasks.prices.normalise import format_utc


@task(**PLATFORM_RETRIES)  # not a SourceError: the source's HTTP client already retried (flows/_retry.py)
def ingest_task(source: str, region: str, file: str | None, start: int | None, end: int | None,
                fallbacks: list[str]) -> dict:
    store = open_run_store()
    if file:
        report = ingest.ingest_file(store, file, region, start, end)
    elif start is not None and end is not None:
        report = ingest.backfill(store, source, region, start, end, fallbacks=fallbacks)
    else:
        report = ingest.ingest_live(store, source, region, fallbacks=fallbacks)
    newest = ingest.new_intervals(store, region, report.start, report.end)
    return report.to_dict() | {"new_until": format_utc(newest) if newest is not None else None}


ROUND_DEPLOYMENT = "evaluate-round/evaluate-round"
TRIGGER_TAG = "after-ingest"


@task
def start_round() -> str | None:
    """Start the evaluate-round deployment without waiting for it, unless a round is already
    waiting to start (it will see these intervals too): one queued round, never a pile of them."""
    with get_client(sync_client=True) as client:
        waiting = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[ROUND_DEPLOYMENT.split("/")[1]])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
                any_=[StateType.SCHEDULED, StateType.PENDING]))), limit=1)
    if waiting:
        get_run_logger().info(f"a round is already waiting to start ({waiting[0].name}): it will see them")
        return None
    run = run_deployment(ROUND_DEPLOYMENT, timeout=0, as_subflow=False, tags=[TRIGGER_TAG])
    get_run_logger().info(f"new intervals: started round {run.name} ({run.id})")
    return str(run.id)


@flow(name="ingest-prices", flow_run_name=names.INGEST, log_prints=True)
def ingest_prices(
    source: str = "openelectricity",
    region: str | None = None,
    fallbacks: list[str] | None = None,
    file: str | None = None,
    backfill_start: str | None = None,
    backfill_end: str | None = None,
    start_round_after: bool | None = None,
) -> dict:
    """Live: re-read the last hour from `source` (then `fallbacks`, default nemweb) and upsert.
    With backfill_start/backfill_end: that window, in resumable chunks. With `file`: a recorded
    file (the demo's bundled data). `start_round_after`: start an evaluate-round run when an
    interval newer than any before was stored; None = when this run is a deployment run (the
    deployed service), not when called directly (a CLI ingest, a test)."""
    region = region or MarketSettings().region
    start = parse_time(backfill_start) if backfill_start else None
    end = parse_time(backfill_end) if backfill_end else None
    report = ingest_task(source, region, file, start, end, ["nemweb"] if fallbacks is None else fallbacks)
    get_run_logger().info(f"ingest {region}: {report.get('rows_written')} row(s) written, newest {report.get('newest')}")
    chained = deployment.id is not None if start_round_after is None else start_round_after
    if report.get("new_until") and chained:
        report["round_run_id"] = start_round()
    return report
