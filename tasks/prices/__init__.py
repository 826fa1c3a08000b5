"""Market data: one module per external system (openelectricity, nemweb, files), one place
that turns their values into datapoints (normalise), and the live poll / backfill / export
(ingest).

    from tasks.prices import ingest_live, backfill, ingest_file, export_datapoints
"""

from tasks.prices.http import AuthError, RequestRejected, SourceError, SourceUnavailable
from tasks.prices.ingest import (
    IngestError,
    IngestReport,
    backfill,
    checkpoint_key,
    export_datapoints,
    ingest_file,
    ingest_live,
    make_source,
)
from tasks.prices.normalise import DataError, parse_timestamp

__all__ = [
    "AuthError",
    "DataError",
    "IngestError",
    "IngestReport",
    "RequestRejected",
    "SourceError",
    "SourceUnavailable",
    "backfill",
    "checkpoint_key",
    "export_datapoints",
    "ingest_file",
    "ingest_live",
    "make_source",
    "parse_timestamp",
]
