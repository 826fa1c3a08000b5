"""2024 timers on Prefect schedules.

The 2024 TaskManager took a six-field crontab with SECONDS FIRST (`0/15 * * * * *` = every 15 s;
`0 30 2 * * *` = 02:30:00 daily). Prefect's cron is five fields (a sixth, seconds, is accepted
LAST, an undocumented croniter convention), so each timer is converted to the plainest Prefect
schedule that fires at exactly the same instants:

  * seconds field exactly `0`                     -> cron of the other five fields, unchanged;
  * everything but seconds is `*`, and the seconds
    are evenly spaced through the minute (0/15,
    */10, a single 30)                            -> interval of that spacing, anchored at the
                                                     first second (0/15 -> every 15 s from :00);
  * anything else (seconds plus restricted
    minutes, hours, days...)                      -> RRULE FREQ=DAILY with BYHOUR/BYMINUTE/
                                                     BYSECOND (+ BYMONTHDAY/BYMONTH/BYDAY),
                                                     DTSTART the day the timer was added (a
                                                     daily rule keeps dateutil's walk to one
                                                     step per day).

cron gives day-of-month OR day-of-week when both are restricted; RRULE can only AND them, so that
combination is refused with a message (add two timers instead).

Timers are kept in the store (meta `timers`), so they survive restarts: `arena up` serves the
`timer-command` deployment with one schedule per timer (parameters {"command": ...}, slug
`timer-ID`), and `arena timers add/remove` also change a running deployment at once when a
Prefect API answers.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from typing import Any

from deployments.definitions import prefect_schedule

FIELDS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31),
          ("month", 1, 12), ("day of week", 0, 6))
_NAMES = {
    4: {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)},
    5: {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))},
}
_RRULE_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")
META_KEY = "timers"
DEPLOYMENT = "timer-command"


class CrontabError(ValueError):
    pass


def _number(text: str, index: int) -> int:
    name, lo, hi = FIELDS[index]
    value = _NAMES.get(index, {}).get(text.lower())
    if value is None:
        if not text.isdigit():
            raise CrontabError(f"{name} field: {text!r} is not a number")
        value = int(text)
    if index == 5 and value == 7:
        value = 0  # Sunday, either way
    if not lo <= value <= hi:
        raise CrontabError(f"{name} field: {value} is outside {lo}-{hi}")
    return value


def expand(field: str, index: int) -> list[int]:
    """One crontab field -> the sorted values it selects (`*`, `5`, `1-5`, `1,3`, `*/15`, `0/15`, `10-40/10`)."""
    name, lo, hi = FIELDS[index]
    values: set[int] = set()
    for part in field.split(","):
        if not part:
            raise CrontabError(f"{name} field {field!r}: empty item")
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise CrontabError(f"{name} field {field!r}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            first, last = lo, hi
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = _number(a, index), _number(b, index)
            if last < first:
                raise CrontabError(f"{name} field {field!r}: range runs backwards")
        else:
            first = _number(base, index)
            last = hi if step_text else first  # `0/15` = from 0 to the end, every 15
        values.update(range(first, last + 1, step))
    return sorted(values)


def _full(values: list[int], index: int) -> bool:
    _, lo, hi = FIELDS[index]
    return values == list(range(lo, hi + 1))


def to_schedule(crontab: str, *, tz: str = "UTC", today: datetime | None = None) -> dict[str, Any]:
    """A 2024 six-field crontab (seconds first) -> a schedule entry ({"cron"|"interval"|"rrule", ...})."""
    fields = crontab.split()
    if len(fields) != 6:
        raise CrontabError(
            f"{crontab!r} has {len(fields)} field(s); a timer needs six: second minute hour day-of-month month "
            "day-of-week (e.g. '0/15 * * * * *' = every 15 seconds)")
    values = [expand(f, i) for i, f in enumerate(fields)]
    seconds, rest = values[0], values[1:]
    if seconds == [0]:
        return {"cron": " ".join(fields[1:]), "timezone": tz}
    if all(_full(v, i + 1) for i, v in enumerate(rest)):
        step = 60 if len(seconds) == 1 else seconds[1] - seconds[0]
        if 60 % step == 0 and seconds == list(range(seconds[0], 60, step)):
            anchor = datetime(2024, 1, 1, 0, 0, seconds[0], tzinfo=UTC)
            return {"interval": step, "anchor_date": anchor.isoformat(), "timezone": tz}
    dom, dow = values[3], values[5]
    if not _full(dom, 3) and not _full(dow, 5):
        raise CrontabError(f"{crontab!r} restricts both day of month and day of week (cron means either one); "
                           "add one timer for each")
    parts = ["FREQ=DAILY", "BYHOUR=" + ",".join(map(str, values[2])), "BYMINUTE=" + ",".join(map(str, values[1])),
             "BYSECOND=" + ",".join(map(str, seconds))]
    if not _full(dom, 3):
        parts.append("BYMONTHDAY=" + ",".join(map(str, dom)))
    if not _full(values[4], 4):
        parts.append("BYMONTH=" + ",".join(map(str, values[4])))
    if not _full(dow, 5):
        parts.append("BYDAY=" + ",".join(_RRULE_DAYS[d] for d in dow))
    start = (today or datetime.now(UTC)).strftime("%Y%m%dT000000")
    return {"rrule": f"DTSTART:{start}\nRRULE:" + ";".join(parts), "timezone": tz}


# ---- keeping timers --------------------------------------------------------------------------


def list_timers(store: Any) -> list[dict[str, Any]]:
    return list((store.get_meta(META_KEY) or {}).get("timers", []))


def add_timer(store: Any, command: str, crontab: str, *, tz: str = "UTC") -> dict[str, Any]:
    """Convert, then keep the timer in the store. (One organiser at a time: the list is one document.)"""
    if not shlex.split(command):
        raise CrontabError("the command is empty")
    schedule = to_schedule(crontab, tz=tz)
    timer_id = store.next_id("timers")
    timer = {"id": timer_id, "command": command, "crontab": crontab, "schedule": schedule,
             "slug": f"timer-{timer_id}", "created_at": datetime.now(UTC).isoformat()}
    store.put_meta(META_KEY, {"timers": [*list_timers(store), timer]})
    return timer


def remove_timer(store: Any, timer_id: int) -> dict[str, Any]:
    timers = list_timers(store)
    found = [t for t in timers if t["id"] == timer_id]
    if not found:
        raise KeyError(f"no timer {timer_id}")
    store.put_meta(META_KEY, {"timers": [t for t in timers if t["id"] != timer_id]})
    return found[0]


def timer_schedules(store: Any) -> list[Any]:
    """Every stored timer as a Prefect schedule of the timer-command deployment."""
    return [prefect_schedule({**t["schedule"], "slug": t["slug"]}, parameters={"command": t["command"]})
            for t in list_timers(store)]


# ---- changing a running deployment -------------------------------------------------------------


def apply_live(timer: dict[str, Any], *, remove: bool = False) -> str:
    """Add (or remove) the timer's schedule on the timer-command deployment of the Prefect API in
    use. Returns what happened, in words; never raises for an absent server or deployment (the
    timer is in the store, and the next `arena up` serves it)."""
    # Prefect only here: `arena timers list` and `add` without a server read the store alone.
    from prefect.client.orchestration import get_client  # noqa: PLC0415
    from prefect.client.schemas.actions import DeploymentScheduleCreate  # noqa: PLC0415
    from prefect.exceptions import ObjectNotFound  # noqa: PLC0415
    from prefect.settings import PREFECT_API_URL  # noqa: PLC0415

    if not PREFECT_API_URL.value():
        return "no Prefect server configured (PREFECT_API_URL); `arena up` will serve it"
    try:
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(f"{DEPLOYMENT}/{DEPLOYMENT}")
            if remove:
                for schedule in client.read_deployment_schedules(deployment.id):
                    if schedule.slug == timer["slug"]:
                        client.delete_deployment_schedule(deployment.id, schedule.id)
                return "removed from the running deployment"
            built = prefect_schedule({**timer["schedule"], "slug": timer["slug"]}, parameters={"command": timer["command"]})
            client.create_deployment_schedules(deployment.id, [DeploymentScheduleCreate.from_schedule(built)])
            return "added to the running deployment"
    except ObjectNotFound:
        return "the timer-command deployment is not on the server yet; `arena up` will serve it"
    except Exception as exc:  # server down, network: the store has the timer anyway
        return f"Prefect API not reachable ({type(exc).__name__}); `arena up` will serve it"
