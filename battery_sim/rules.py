"""Rulesets are data: one frozen record per competition's market and battery rules.

A later competition adds a ruleset (efficiency, separate limits, another tariff) here,
and nothing else in the code changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta, timezone

from battery_sim.errors import BadInput

# The market's clock: 5-minute dispatch intervals, NEM time = AEST (UTC+10) all year. Every
# module that needs an interval length or the NEM offset reads it here (or from a Ruleset,
# which carries the same numbers); the data layer checks ingested rows against them.
INTERVAL_MINUTES = 5
INTERVAL_S = INTERVAL_MINUTES * 60
INTERVALS_PER_DAY = 24 * 60 // INTERVAL_MINUTES
NEM_UTC_OFFSET_HOURS = 10
NEM_TIME = timezone(timedelta(hours=NEM_UTC_OFFSET_HOURS), "AEST")
# Money is rounded to 4 decimals per leg, as the 2024 evaluator did.
MONEY_DECIMALS = 4
# Generous on purpose: 2024 policies returned 10x or 100x the rate and were clipped, not failed.
ACTION_BOUND_FACTOR = 1000


@dataclass(frozen=True)
class Tariff:
    """Each leg's money x becomes x + |x|·rate (rates signed), by the hour of the interval end
    in NEM time. Peak is [peak_start_hour, peak_end_hour)."""

    peak_start_hour: int = 17
    peak_end_hour: int = 21
    export_peak_rate: float = 0.30
    export_offpeak_rate: float = -0.15
    import_peak_rate: float = -0.40
    import_offpeak_rate: float = -0.05

    def is_peak(self, nem_hour: int) -> bool:
        return self.peak_start_hour <= nem_hour < self.peak_end_hour


@dataclass(frozen=True)
class Ruleset:
    name: str
    description: str
    interval_minutes: int = INTERVAL_MINUTES
    capacity_kwh: float = 13.0
    max_power_kw: float = 5.0
    initial_soc_kwh: float = 7.5
    money_decimals: int = MONEY_DECIMALS
    rundown_price_intervals: int = INTERVALS_PER_DAY
    nem_utc_offset_hours: int = NEM_UTC_OFFSET_HOURS
    tariff: Tariff | None = None

    def __post_init__(self) -> None:
        # The market data arena ingests and checks is 5-minute NEM-time data: a ruleset that
        # declared another clock would be silently scored on this one.
        if (self.interval_minutes, self.nem_utc_offset_hours) != (INTERVAL_MINUTES, NEM_UTC_OFFSET_HOURS):
            raise BadInput(f"ruleset {self.name!r}: arena's market data has {INTERVAL_MINUTES}-minute intervals "
                           f"in NEM time (UTC+{NEM_UTC_OFFSET_HOURS}); another clock is not supported")

    @property
    def hours_per_interval(self) -> float:
        # Written as 5 / 60 (not 5 * 1 / 60) so kW→kWh rounds exactly as the 2024 evaluator did.
        return self.interval_minutes / 60

    @property
    def interval_seconds(self) -> int:
        return self.interval_minutes * 60

    @property
    def max_action_kw(self) -> float:
        """The largest |action| accepted at all. Anything within it is clipped to max_power_kw
        as in 2024; beyond it (1e308, a 4001-digit integer) no battery was meant, and the
        interval is the team's error, as NaN is."""
        return ACTION_BOUND_FACTOR * self.max_power_kw

    @property
    def initial_charge_kwh(self) -> float:
        return min(self.initial_soc_kwh, self.capacity_kwh)


GBH2024 = Ruleset(
    name="gbh2024",
    description="2024 Green Battery Hack: 13 kWh, 5 kW, start at 7.5 kWh, spot price, no losses",
)

GBH2024_TARIFF = Ruleset(
    name="gbh2024-tariff",
    description="gbh2024 plus the 2024 tariff: exports +30 % peak / -15 % off-peak, imports -40 % peak / -5 % off-peak",
    tariff=Tariff(),
)

RULESETS: dict[str, Ruleset] = {r.name: r for r in (GBH2024, GBH2024_TARIFF)}
DEFAULT_RULESET = GBH2024_TARIFF.name


def get_ruleset(name: str) -> Ruleset:
    try:
        return RULESETS[name]
    except KeyError:
        raise BadInput(f"unknown ruleset {name!r}; known: {', '.join(sorted(RULESETS))}") from None
