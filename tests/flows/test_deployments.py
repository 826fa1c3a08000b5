"""Deployments are defined once: prefect.yaml must say what deployments/definitions.py says;
2024 six-field crontabs become Prefect schedules that fire at the same instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from dateutil.rrule import rrulestr

from deployments.definitions import (
    DEPLOYMENTS,
    DOCKER_DEPLOYMENTS,
    DOCKER_POOL,
    DOCKER_PULL_STEPS,
    WORK_POOL,
    docker_job_variables,
    prefect_schedule,
)
from deployments.timers import CrontabError, add_timer, expand, list_timers, remove_timer, timer_schedules, to_schedule

ROOT = Path(__file__).resolve().parents[2]


def _yaml_deployments() -> dict[str, dict]:
    document = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    return {d["name"]: d for d in document["deployments"]}


def _limit(entry: dict) -> tuple:
    value = entry.get("concurrency_limit")
    if isinstance(value, dict):
        return value["limit"], value.get("collision_strategy", "ENQUEUE")
    return (value, "ENQUEUE") if value is not None else (None, None)


def test_prefect_yaml_and_definitions_cannot_drift():
    in_yaml = _yaml_deployments()
    assert sorted(in_yaml) == sorted([spec.name for spec in DEPLOYMENTS] + [spec.name for spec in DOCKER_DEPLOYMENTS])
    for spec in DEPLOYMENTS:
        entry = in_yaml[spec.name]
        assert entry["entrypoint"] == spec.entrypoint, spec.name
        assert (entry.get("parameters") or {}) == spec.parameters, spec.name
        assert (entry.get("schedules") or []) == list(spec.schedules), spec.name
        assert _limit(entry) == (spec.concurrency_limit, spec.collision_strategy if spec.concurrency_limit else None)
        assert entry["work_pool"]["name"] == WORK_POOL
        assert tuple(entry.get("tags") or ()) == spec.tags, spec.name
        assert entry.get("description") == spec.description, spec.name


def test_the_docker_pool_deployments_agree_with_the_definitions():
    in_yaml = _yaml_deployments()
    for spec in DOCKER_DEPLOYMENTS:
        entry = in_yaml[spec.name]
        assert entry["entrypoint"] == spec.flow.entrypoint, spec.name
        assert (entry.get("parameters") or {}) == spec.flow.parameters
        assert not entry.get("schedules") and not entry.get("concurrency_limit")
        assert tuple(entry.get("tags") or ()) == spec.tags
        assert entry.get("description") == spec.description
        assert entry["pull"] == list(DOCKER_PULL_STEPS)  # the flow code comes from the image
        assert entry["work_pool"]["name"] == DOCKER_POOL
        assert entry["work_pool"]["job_variables"] == docker_job_variables("{{ $ARENA_HOME }}", "{{ $ARENA_TABLE_PREFIX }}")
        assert entry["work_pool"]["job_variables"]["image_pull_policy"] == "Never"  # nothing can be pulled


def test_every_entrypoint_is_a_flow_with_the_deployment_name():
    for spec in DEPLOYMENTS:
        path, _, function = spec.entrypoint.partition(":")
        assert (ROOT / path).is_file()
        assert spec.load_flow().name == spec.name  # so runs are addressed as name/name
        assert spec.load_flow().fn.__name__ == function


def test_required_schedules():
    by_name = {s.name: s for s in DEPLOYMENTS}
    assert by_name["ingest-prices"].schedules[0]["interval"] == 300
    assert (by_name["ingest-prices"].concurrency_limit, by_name["ingest-prices"].collision_strategy) == (1, "CANCEL_NEW")
    assert by_name["poll-submissions"].schedules[0]["interval"] == 120
    assert by_name["sync-task-rows"].schedules[0]["interval"] == 300
    for spec in DEPLOYMENTS:
        for entry in spec.schedules:
            prefect_schedule(entry)  # every entry is a valid Prefect schedule


def test_served_deployments_match_the_definitions():
    from deployments.serve import build_all

    served = {d.name: d for d in build_all()}
    for spec in DEPLOYMENTS:
        deployment = served[spec.name]
        assert deployment.entrypoint == spec.module_path
        assert len(deployment.schedules) == len(spec.schedules)
        assert (deployment.concurrency_limit or None) == spec.concurrency_limit


# ---- the 2024 crontab ----------------------------------------------------------------------


def _instants(schedule: dict, count: int, after: datetime) -> list[datetime]:
    """The next fire times of a converted schedule, computed independently of Prefect."""
    if "cron" in schedule:  # walk minute by minute (cron fields: minute hour dom month dow)
        fields = [expand(f, i + 1) for i, f in enumerate(schedule["cron"].split())]
        out, t = [], after.replace(second=0) + timedelta(minutes=1)
        while len(out) < count:
            if (t.minute in fields[0] and t.hour in fields[1] and t.day in fields[2] and t.month in fields[3]
                    and (t.weekday() + 1) % 7 in fields[4]):
                out.append(t)
            t += timedelta(minutes=1)
        return out
    if "interval" in schedule:
        anchor = datetime.fromisoformat(schedule["anchor_date"])
        step = schedule["interval"]
        n = int((after - anchor).total_seconds() // step) + 1
        return [datetime.fromtimestamp(anchor.timestamp() + (n + i) * step, UTC) for i in range(count)]
    rule = rrulestr(schedule["rrule"])  # naive: the DTSTART is in the schedule's time zone (UTC here)
    out, t = [], after.replace(tzinfo=None)
    for _ in range(count):
        t = rule.after(t)
        out.append(t.replace(tzinfo=UTC))
    return out


AFTER = datetime(2024, 5, 6, 8, 59, 50, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize("crontab, kind, first_three", [
    ("0/15 * * * * *", "interval", ["09:00:00", "09:00:15", "09:00:30"]),
    ("*/20 * * * * *", "interval", ["09:00:00", "09:00:20", "09:00:40"]),
    ("30 * * * * *", "interval", ["09:00:30", "09:01:30", "09:02:30"]),
    ("0 */5 * * * *", "cron", ["09:00:00", "09:05:00", "09:10:00"]),
    ("0 30 2 * * *", "cron", ["02:30:00", "02:30:00", "02:30:00"]),
    ("15 0 9 * * mon-fri", "rrule", ["09:00:15", "09:00:15", "09:00:15"]),
    ("10,40 0-1 9 * * *", "rrule", ["09:00:10", "09:00:40", "09:01:10"]),
])
def test_six_field_crontab_conversion(crontab, kind, first_three):
    schedule = to_schedule(crontab, today=datetime(2024, 1, 1, tzinfo=UTC))
    assert kind in schedule
    fired = _instants(schedule, 3, AFTER)
    assert [t.strftime("%H:%M:%S") for t in fired] == first_three
    prefect_schedule(schedule)  # Prefect accepts it


def test_weekday_rule_skips_the_weekend():
    schedule = to_schedule("15 0 9 * * mon-fri", today=datetime(2024, 1, 1, tzinfo=UTC))
    days = [t.strftime("%a") for t in _instants(schedule, 6, AFTER)]
    assert days == ["Mon", "Tue", "Wed", "Thu", "Fri", "Mon"]


@pytest.mark.parametrize("bad, message", [
    ("*/5 * * * *", "six"),
    ("61 * * * * *", "outside 0-59"),
    ("5 0 0 1 * mon", "either one"),
    ("x * * * * *", "not a number"),
    ("0/0 * * * * *", "positive"),
])
def test_bad_crontabs_are_refused_with_a_reason(bad, message):
    with pytest.raises(CrontabError, match=message):
        to_schedule(bad)


def test_timers_are_kept_in_the_store_and_served_as_schedules(store):
    first = add_timer(store, "arena db check", "0/15 * * * * *")
    second = add_timer(store, "echo hi", "0 0 3 * * *")
    assert [t["id"] for t in list_timers(store)] == [first["id"], second["id"]]
    schedules = timer_schedules(store)
    assert [s.parameters for s in schedules] == [{"command": "arena db check"}, {"command": "echo hi"}]
    assert [s.slug for s in schedules] == [first["slug"], second["slug"]]
    remove_timer(store, first["id"])
    assert [t["command"] for t in list_timers(store)] == ["echo hi"]
    with pytest.raises(CrontabError):
        add_timer(store, "", "0 * * * * *")
