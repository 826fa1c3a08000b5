"""The records arena keeps, in the competition's own words.

Every backend stores exactly these fields; `to_item()` / `from_item()` give the plain
dict form (JSON-ready, no Decimals) the store and the site use.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from arena.text import ERROR_MAX, LOGS_MAX, TRACEBACK_MAX, plain_text
from battery_sim.fields import MARKET_FIELDS


def utc_iso(moment: datetime) -> str:
    """The store's clock format: ISO-8601 UTC with microseconds, sortable as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now_iso() -> str:
    return utc_iso(datetime.now(UTC))


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_item(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_item(cls, item: dict[str, Any]):
        return cls.model_validate(item)


class TaskState(str, Enum):
    pending = "pending"
    running = "running"
    success = "success"
    error = "error"
    # A submission commit past its team's submission limit (tasks/limits.py): recorded, never
    # evaluated; final like success and error, and never a team's current submission.
    over_limit = "over-limit"


class TaskType(str, Enum):
    command = "command"  # a 2024 TaskManager command line
    submission_kickoff = "submission-kickoff"  # a new submission commit, to be evaluated
    evaluation = "evaluation"  # one evaluate-submission run
    backtest = "backtest"
    ingest = "ingest"


class TaskRow(Record):
    """The 2024 task row (DynamoDB table `tasks`, partition key task="task", sort key id)."""

    task: str = "task"
    id: int = Field(ge=1)
    command: str = ""
    created_at: str = Field(default_factory=utc_now_iso)
    updated_at: str = Field(default_factory=utc_now_iso)
    diagnostic: str = ""
    state_: TaskState = TaskState.pending
    type: TaskType = TaskType.command
    team_name: str | None = None
    team_id: int | None = None
    git_commit_hash: str | None = None
    flow_run_id: str | None = None
    logs_tail: str | None = None

    # Diagnostics and log tails carry the team's text (an error it raised, lines it printed):
    # whatever a caller or an older row holds there becomes text, so a row can always be built.
    # The diagnostic's length is tasks/taskrows.py's to bound (and the store's item limit's).
    @field_validator("diagnostic", mode="before")
    @classmethod
    def _diagnostic_text(cls, value: Any) -> str:
        return plain_text(value, None) or ""

    @field_validator("logs_tail", mode="before")
    @classmethod
    def _logs_text(cls, value: Any) -> str | None:
        return plain_text(value, LOGS_MAX)


# A per-team submission limit: a count (0 = no submission counts), "unlimited", or None (the
# competition's own limit applies).
UNLIMITED = "unlimited"
SubmissionLimit = Annotated[int, Field(ge=0, le=1_000_000)] | Literal["unlimited"] | None


class Team(Record):
    team_id: int = Field(ge=100, le=200)
    team_name: str = Field(min_length=1, max_length=100)
    city: str = ""
    repo: str = Field(min_length=1, description="owner/name on GitHub, a git URL, or a local path")
    branch: str = "main"
    limits: dict[str, float | str] = Field(default_factory=dict, description="per-team sandbox limit overrides")
    # -- submission limits (tasks/limits.py): None = the competition's; "unlimited" lifts it for this team
    submissions_per_day: SubmissionLimit = None
    submissions_total: SubmissionLimit = None
    created_at: str = Field(default_factory=utc_now_iso)


# The columns of the 2024 live format, in that order; all optional except price.
DATAPOINT_FIELDS = MARKET_FIELDS

# The NEM's five regions (AEMO's REGIONID): the one list the settings and every ingest check use.
NEM_REGIONS = ("NSW1", "QLD1", "SA1", "TAS1", "VIC1")


def nem_region(value: str) -> str:
    """`value` as AEMO spells the region (upper case), or ValueError naming the NEM's regions."""
    name = str(value).strip().upper()
    if name not in NEM_REGIONS:
        raise ValueError(f"not a NEM region: {str(value).strip()!r}; the NEM regions are {', '.join(NEM_REGIONS)}")
    return name


class Datapoint(Record):
    """One 5-minute interval of one series (`NEM:SA1`), keyed by the interval END in UTC epoch seconds."""

    series: str = Field(pattern=r"^[A-Z]+:[A-Z0-9]+$")
    interval_end: int = Field(description="UTC epoch seconds of the interval end, a multiple of 300")
    price: float | None = None
    demand: float | None = None
    demand_total: float | None = None
    temp_air: float | None = None
    pv_power: float | None = None
    pv_power_forecast_1h: float | None = None
    pv_power_forecast_2h: float | None = None
    pv_power_forecast_24h: float | None = None
    pv_power_basic: float | None = None
    source: str = ""
    ingested_at: float = Field(default_factory=time.time)


class SubmissionRecord(Record):
    """The result of one submission over one window (table `submissions`).

    `key` is `git_commit_hash#window` where window is `START-END` in UTC epoch seconds
    plus the ruleset, so one commit can be scored over several windows; a private (held-out)
    window's record is `private` and its key ends in `#private`.
    """

    team_id: int
    key: str
    team_name: str = ""
    git_commit_hash: str
    window_start: int
    window_end: int
    rules: str
    submitted_at: str | None = None
    evaluated_at: str = Field(default_factory=utc_now_iso)
    status: str  # success | error
    score: float | None = None
    baseline_score: float | None = None
    class_name: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    error_traceback: str | None = None
    logs_tail: str | None = None
    steps: int = 0
    main_trial: dict[str, Any] = Field(default_factory=dict)
    num_runs: int = 1
    main_trial_idx: int = 0
    notes: list[str] = Field(default_factory=list, description="how the team's repo was read (e.g. a requirement fixed up)")
    # A held-out window's result (issue 19): never published before `arena reveal`. The key
    # carries it too (make_key), so it never shares a key with a backtest over the same window.
    private: bool = False

    # The team's text (see TaskRow): a traceback that is an object, an error of a megabyte.
    @field_validator("notes", mode="before")
    @classmethod
    def _notes_text(cls, value: Any) -> list[str]:
        return [plain_text(note, ERROR_MAX) or "" for note in list(value or [])[:20]]

    @field_validator("error", mode="before")
    @classmethod
    def _error_text(cls, value: Any) -> str | None:
        return plain_text(value, ERROR_MAX)

    @field_validator("error_traceback", mode="before")
    @classmethod
    def _traceback_text(cls, value: Any) -> str | None:
        return plain_text(value, TRACEBACK_MAX)

    @field_validator("logs_tail", mode="before")
    @classmethod
    def _logs_text(cls, value: Any) -> str | None:
        return plain_text(value, LOGS_MAX)

    @property
    def score_problem(self) -> str | None:
        """Why this record, a success, cannot count as one (None when it can): a score that is not
        a finite number, as an older arena or a hand-edited store may hold. The board makes such a
        row the team's error, so a NaN never reaches a sort, where it would scramble every place."""
        if self.status == "success" and self.score is not None and not math.isfinite(self.score):
            return f"the stored score is {self.score!r}, not a finite number"
        return None

    @staticmethod
    def make_key(git_commit_hash: str, window_start: int, window_end: int, rules: str, private: bool = False) -> str:
        return f"{git_commit_hash}#{window_start}-{window_end}#{rules}" + (PRIVATE_KEY_MARK if private else "")


PRIVATE_KEY_MARK = "#private"
