"""The one place arena reads its configuration.

Each area has its own class and environment prefix; `load_settings()` builds them
on demand (never at import), so tests can set the environment first.
Only change the class of your own area.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from arena.models import nem_region
from arena.scoring import ScoringError, Window, iso_utc, parse_time


def _default_prefix() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry inside some containers
        return "arena"


def _home() -> Path:
    """ARENA_HOME as an absolute path (default: `.arena` of the folder arena runs in). Absolute
    here, once, so every path derived from it means the same folder in each process `arena up`
    starts, whatever that process's working folder."""
    return Path(os.environ.get("ARENA_HOME") or ".arena").expanduser().resolve()


class StoreSettings(BaseSettings):
    # populate_by_name: StoreSettings(table_prefix=...) must work in code and tests, not only the env aliases.
    model_config = SettingsConfigDict(env_prefix="ARENA_STORE_", extra="ignore", populate_by_name=True)

    url: str = Field(
        default_factory=lambda: f"sqlite:///{_home() / 'arena.db'}",
        description="sqlite:///path/arena.db (embedded default) or dynamodb",
    )
    table_prefix: str = Field(
        default_factory=_default_prefix,
        validation_alias=AliasChoices("ARENA_TABLE_PREFIX", "ARENA_STORE_TABLE_PREFIX"),
        description="Prefix of every table name; production uses 'energy'",
        min_length=1,
        max_length=64,
    )
    objects_url: str = Field(
        default_factory=lambda: str(_home() / "objects"),
        validation_alias=AliasChoices("ARENA_OBJECTS_URL", "ARENA_STORE_OBJECTS_URL"),
        description="Where private trials go: a local folder, or s3://bucket/prefix",
    )
    sqlite_busy_timeout_s: float = Field(30.0, gt=0, le=600, description="How long a SQLite writer waits for the lock")


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARENA_SANDBOX_", extra="ignore")

    # Chosen, never guessed: a missing Docker is an error, not a quiet step down to less isolation.
    backend: Literal["docker", "process", "local"] = Field(
        "docker", description="docker (default) | process (jailed subprocess, not a container) | local (in arena's own process: trusted code only)"
    )
    base_image: str = Field(
        "arena-base:bookworm",
        validation_alias=AliasChoices("ARENA_BASE_IMAGE", "ARENA_SANDBOX_BASE_IMAGE"),
        description="Image every team image is built FROM",
    )
    step_timeout_s: float = Field(2.0, gt=0, le=600, description="Longest a policy may take for one interval")
    startup_timeout_s: float = Field(60.0, gt=0, le=3600, description="Longest from start to first answer (init + history)")
    run_timeout_s: float = Field(1800.0, gt=0, le=86400, description="Longest a whole run may take")
    memory: str = Field("1g", description="Memory limit (also memory+swap), docker notation")
    cpus: float = Field(1.0, gt=0, le=64, description="CPU limit")
    pids_limit: int = Field(128, ge=8, le=4096, description="Most processes/threads a team may run")
    tmpfs_size: str = Field("64m", description="Size of the writable /tmp")
    log_cap_bytes: int = Field(1_000_000, ge=1000, description="Team stderr kept at most")
    log_tail_lines: int = Field(40, ge=1, le=1000, description="Lines of team log shown with an error")
    checkpoint_max_mb: float = Field(
        16.0, ge=0, le=1024,
        description="Largest saved policy state a live run keeps between advances (pickled inside the sandbox; "
                    "over it, or 0, the team's live run is replayed from the window start each round)",
    )
    pip_download_args: str = Field(
        "", description="Extra host-side `pip download` arguments for team requirements (a mirror's --index-url, or --no-index --find-links DIR)"
    )
    build_timeout_s: float = Field(900.0, gt=0, le=7200, description="Longest a team image build may take")
    wheel_cache_dir: Path = Field(
        default_factory=lambda: _home() / "wheels",
        description="Host cache of the wheels downloaded for team requirements (never sent into a kept image layer)",
    )
    wheel_cache_mb: int = Field(2048, ge=0, le=1_000_000, description="Largest the wheel cache may grow; least recently used wheels go first")
    run_label: str = Field(
        "", max_length=63, pattern=r"^[A-Za-z0-9_.-]*$",
        description="Value of the `arena.run` label on every sandbox container and team image; when set, listing "
                    "and pruning consider only those, so arenas (or test runs) sharing a Docker daemon leave each other alone",
    )


class MarketSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARENA_MARKET_", extra="ignore")

    region: str = Field("SA1", description="NEM region the competition trades in (arena.models.NEM_REGIONS)")
    openelectricity_api_key: str | None = Field(
        None, validation_alias=AliasChoices("OPENELECTRICITY_API_KEY"), description="Open Electricity v4 key"
    )
    openelectricity_api_url: str = Field(
        "https://api.openelectricity.org.au/v4",
        validation_alias=AliasChoices("OPENELECTRICITY_API_URL"),
        description="Open Electricity v4 base URL",
    )
    openelectricity_requests_per_s: float = Field(
        2.0, gt=0, le=100, description="Open Electricity request rate limit (Community plan burst: 2/s)"
    )
    nemweb_url: str = Field("https://nemweb.com.au", description="AEMO NEMWeb base URL")
    pv_panel_kw: float = Field(5.0, gt=0, le=1000, description="Size of the simulated rooftop panel")
    rooftop_capacity_mw: dict[str, float] = Field(
        default_factory=lambda: {"NSW1": 6800.0, "QLD1": 6500.0, "VIC1": 5200.0, "SA1": 2300.0, "TAS1": 300.0},
        description="Installed rooftop PV per region (MW, rough 2024 figures); regional MW / this = panel capacity factor",
    )
    live_lookback_minutes: int = Field(60, ge=5, le=1440, description="A live poll re-reads this much")
    chunk_days: int = Field(7, ge=1, le=7, description="Backfill request size")
    request_timeout_s: float = Field(30.0, gt=0, le=600)
    max_retries: int = Field(4, ge=0, le=20)
    stale_after_minutes: int = Field(15, ge=5, description="Primary source counts as stale past this")

    @field_validator("region")
    @classmethod
    def _nem_region(cls, value: str) -> str:
        return nem_region(value)


class SubmissionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARENA_SUBMISSIONS_", extra="ignore")

    github_token: str | None = Field(None, validation_alias=AliasChoices("GITHUB_TOKEN"), description="GitHub token")
    github_api_url: str = Field(
        "https://api.github.com",
        validation_alias=AliasChoices("ARENA_GITHUB_API_URL", "ARENA_SUBMISSIONS_GITHUB_API_URL"),
        description="GitHub REST base URL (Enterprise, tests)",
    )
    pattern: str = Field("submission", min_length=1, description="A commit whose message contains this is a submission")
    checkout_dir: Path = Field(default_factory=lambda: _home() / "checkouts")
    max_checkout_mb: int = Field(200, ge=1, le=10_000, description="Largest team tree accepted")
    max_checkout_entries: int = Field(
        20_000, ge=1, le=1_000_000, description="Most files, folders and links a team tree may hold"
    )
    mirror_dir: Path = Field(
        default_factory=lambda: _home() / "mirrors", description="Bare mirrors of non-GitHub team repos (one per team)"
    )
    max_commits_per_poll: int = Field(
        100, ge=1, le=10_000, description="Newest commits of a branch looked at per poll (and on a team's first poll)"
    )
    rate_limit_max_wait_s: float = Field(
        3700.0, ge=0, le=86_400, description="Longest a poll sleeps for a GitHub rate-limit reset before giving up"
    )
    request_timeout_s: float = Field(30.0, gt=0, le=600, description="GitHub request and git fetch timeout")
    claim_stale_s: float = Field(
        600.0, gt=0, le=86_400,
        description="A commit a poll on another host claimed but wrote no request for after this long is requested again",
    )


class CompetitionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARENA_COMPETITION_", extra="ignore")

    name: str = Field("arena", description="Shown on the leaderboard")
    rules: str = Field("gbh2024-tariff", description="Ruleset of the live round")
    window_start: str | None = Field(None, description="Live window start (timestamp); none = earliest data")
    window_end: str | None = Field(None, description="Live window end (timestamp); none = latest data")
    trials: int = Field(1, ge=1, le=100)
    seed: int = Field(42)
    # -- submission limits (tasks/limits.py); a team's own (teams file) replaces either ----------
    submissions_per_day: int | None = Field(
        None, ge=0, le=1_000_000,
        description="Submissions a team may make per NEM day (midnight to midnight AEST, by the time arena "
                    "received them); none = unlimited. Commits past it are recorded as over the limit, never evaluated",
    )
    submissions_total: int | None = Field(
        None, ge=0, le=1_000_000, description="Submissions a team may make over the whole competition; none = unlimited",
    )

    # -- private (held-out) leaderboard: issue 19 -----------------------------------------------
    private_windows: str = Field(
        "", description="Held-out windows scored besides the public one and shown only after `arena reveal`: "
                        "START..END pairs, comma-separated (timestamps as for the window; naive = NEM time)",
    )
    private_counts: str = Field(
        "latest", description="Which submissions of a team count for the private ranking: latest | best_public:N",
    )

    @field_validator("private_counts")
    @classmethod
    def _counts(cls, value: str) -> str:
        counted_submissions(value)  # refuses what it cannot read
        return value.strip()

    @model_validator(mode="after")
    def _windows(self) -> CompetitionSettings:
        held = parse_private_windows(self.private_windows)
        if not held:
            return self  # the public window's bounds are checked where they are used, as before
        public = _public_bounds(self.window_start, self.window_end)
        for window in held:
            if window.start <= public.end and public.start <= window.end:
                raise ValueError(
                    f"ARENA_COMPETITION_PRIVATE_WINDOWS: {_shown(window)} overlaps the public window "
                    f"{_shown(public)}; a private score over public intervals would be no secret (set "
                    "ARENA_COMPETITION_WINDOW_START / _END so the public window ends before, or starts after, it)")
        return self

    @property
    def private(self) -> list[Window]:
        """The held-out windows, in time order (validated when the settings were read)."""
        return parse_private_windows(self.private_windows)

    @property
    def counted(self) -> tuple[str, int]:
        """('latest', 1) or ('best_public', N): which submissions count for the private ranking."""
        return counted_submissions(self.private_counts)


_OPEN = 2**62  # an open public bound reaches as far as any time


def _shown(window: Window) -> str:
    show = lambda t: "the start of the data" if t <= -_OPEN else "the end of the data" if t >= _OPEN else iso_utc(t)  # noqa: E731
    return f"{show(window.start)}..{show(window.end)}"


def _public_bounds(start: str | None, end: str | None) -> Window:
    try:
        return Window(parse_time(start) if start else -_OPEN, parse_time(end) if end else _OPEN)
    except ScoringError as exc:
        raise ValueError(f"the public window: {exc}") from None


def parse_private_windows(text: str) -> list[Window]:
    """`START..END, START..END` -> Windows in time order; ValueError naming the part that is wrong
    (not a START..END pair, not a time, reversed, two windows overlapping)."""
    windows = []
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        start, sep, end = part.partition("..")
        if not sep or not start.strip() or not end.strip():
            raise ValueError(f"ARENA_COMPETITION_PRIVATE_WINDOWS: {part!r} is not START..END")
        try:
            window = Window(parse_time(start), parse_time(end))
        except ScoringError as exc:
            raise ValueError(f"ARENA_COMPETITION_PRIVATE_WINDOWS: {part!r}: {exc}") from None
        if window.end <= window.start:
            raise ValueError(f"ARENA_COMPETITION_PRIVATE_WINDOWS: {part!r} ends before it starts")
        windows.append(window)
    windows.sort(key=lambda w: w.start)
    for before, after in zip(windows, windows[1:], strict=False):
        if after.start <= before.end:
            raise ValueError(f"ARENA_COMPETITION_PRIVATE_WINDOWS: {_shown(before)} and {_shown(after)} overlap")
    return windows


def counted_submissions(text: str) -> tuple[str, int]:
    """`latest` -> ('latest', 1); `best_public:N` -> ('best_public', N), N in 1..20."""
    name, _, number = (text or "").strip().partition(":")
    if name == "latest" and not number:
        return "latest", 1
    if name == "best_public" and number.strip().isdigit() and 1 <= int(number) <= 20:
        return "best_public", int(number)
    raise ValueError(f"ARENA_COMPETITION_PRIVATE_COUNTS: {text!r} is not `latest` or `best_public:N` (N 1..20)")


class SiteSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARENA_SITE_", extra="ignore")

    folder: Path = Field(default_factory=lambda: _home() / "site", description="Where the static site is written")
    s3_url: str | None = Field(None, description="s3://bucket/prefix to publish to as well")
    serve_port: int = Field(8765, ge=1, le=65535)


class OrchestrationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARENA_FLOWS_", extra="ignore")

    container_limit: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, le=1024,
        description="Global concurrency limit on team containers",
    )
    # Prefect's shortest lease: a holder on a machine that vanished frees its slot within a
    # minute and a bit (the server's lease sweep); one on this host that died is freed at once.
    slot_lease_s: float = Field(60.0, ge=60, le=3600, description="Lease of a container slot; its holder renews it")
    slot_dir: Path = Field(
        default_factory=lambda: _home() / "slots",
        description="Where this host's processes record the container slots they hold (read back to free a dead one's)",
    )
    work_pool: str = Field("arena-process", description="Process work pool for scale-out")
    evaluate_deployment: str = Field(
        "evaluate-submission", pattern=r"^[A-Za-z0-9_.-]+$",
        description="The deployment of evaluate-submission a round starts its evaluations on (via deployments): "
                    "evaluate-submission (process pool or `arena up`) or evaluate-submission-docker (Docker pool)",
    )
    prefect_port: int = Field(4200, ge=1, le=65535)
    evaluation_claim_stale_s: float = Field(
        4 * 3600.0, gt=0, le=7 * 86_400,
        description="An evaluation claim held this long by a run on another host is taken over "
                    "(longer than any build + run; a dead run on this host is taken over at once)",
    )
    claim_poll_s: float = Field(2.0, gt=0, le=600, description="How often a run waiting for another run's evaluation looks again")
    # Prefect's own variable, read here so the organiser's choice is honoured (Prefect's setting
    # always has a value, so it cannot tell whether the organiser chose one).
    prefect_home: Path | None = Field(
        None, validation_alias=AliasChoices("PREFECT_HOME"),
        description="The organiser's Prefect home; unset: <ARENA_HOME>/prefect",
    )
    temporary_server_timeout_s: int = Field(
        240, ge=20, le=3600,
        description="How long a command without a running `arena up` server waits for its temporary Prefect "
                    "server to start (Prefect's default, 20 s, is too short on a loaded 2-core machine)",
    )


# -- the GitHub webhook receiver (`arena webhook`, tasks/webhook.py) -----------------------------
class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARENA_WEBHOOK_", extra="ignore")

    secret: str | None = Field(
        None, min_length=16, max_length=1000,
        description="The webhook's shared secret (the same text as in GitHub's webhook form); none = `arena webhook` "
                    "refuses to start",
    )
    host: str = Field("127.0.0.1", min_length=1, description="Address to listen on (a reverse proxy in front for TLS)")
    port: int = Field(8790, ge=1, le=65535)
    max_body_bytes: int = Field(
        5_000_000, ge=1000, le=100_000_000,
        description="Largest request body read (413 past it); GitHub caps a payload at 25 MB, a push is far smaller",
    )
    keep_deliveries: int = Field(
        10_000, ge=10, le=1_000_000, description="Delivery ids remembered to refuse replays (the newest are kept)",
    )


class Settings(BaseModel):
    home: Path
    store: StoreSettings
    sandbox: SandboxSettings
    market: MarketSettings
    submissions: SubmissionSettings
    competition: CompetitionSettings
    site: SiteSettings
    flows: OrchestrationSettings
    webhook: WebhookSettings


def load_settings() -> Settings:
    """Read the environment now (cheap; call it where the value is needed)."""
    return Settings(
        home=_home(),
        store=StoreSettings(),
        sandbox=SandboxSettings(),
        market=MarketSettings(),
        submissions=SubmissionSettings(),
        competition=CompetitionSettings(),
        site=SiteSettings(),
        flows=OrchestrationSettings(),
        webhook=WebhookSettings(),
    )
