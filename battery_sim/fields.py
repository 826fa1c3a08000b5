"""The value columns of the 2024 live format, in that order; all optional except price.

Kept apart from `data.py` (which needs pandas) so `arena.models` can name the same tuple
without importing pandas: the simulator's loader, ingest and the store all read this one list.
"""

MARKET_FIELDS = (
    "price",
    "demand",
    "demand_total",
    "temp_air",
    "pv_power",
    "pv_power_forecast_1h",
    "pv_power_forecast_2h",
    "pv_power_forecast_24h",
    "pv_power_basic",
)
