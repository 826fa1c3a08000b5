"""`arena ingest` refuses what it cannot honestly do, the same way for every source and before any
source is asked: a region the NEM does not have, a window whose end is not after its start."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from arena.models import NEM_REGIONS
from tasks.prices.normalise import DataError, check_region
from tests.conftest import APRIL_UTC_PV


def cli() -> typer.Typer:
    from cli import ingest

    app = typer.Typer()
    ingest.register(app)

    @app.command("noop")  # a second command, so typer keeps `ingest` as a named sub-command
    def noop() -> None: ...

    return app


def said(result) -> str:
    return " ".join(result.output.split())  # rich wraps long errors at the terminal width


SOURCES = [
    ["--source", "file", "--file", str(APRIL_UTC_PV)],
    ["--source", "nemweb"],
    ["--source", "openelectricity"],
]


def _no_source_asked(monkeypatch):
    """Every source's fetch fails the test: the refusals must come before any is called."""
    from tasks.prices import files, nemweb, openelectricity

    def asked(*args, **kwargs):
        raise AssertionError("a source was asked despite the bad input")

    for cls in (files.FileSource, nemweb.NemwebSource, openelectricity.OpenElectricitySource):
        monkeypatch.setattr(cls, "fetch", asked)
    monkeypatch.setattr("tasks.prices.ingest.scan_csv", asked)
    monkeypatch.setattr("tasks.prices.ingest.read_file", asked)


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s[1])
def test_an_unknown_region_is_refused_with_the_nem_regions(arena_home, monkeypatch, source):
    _no_source_asked(monkeypatch)
    result = CliRunner().invoke(cli(), ["ingest", *source, "--region", "XX1"])
    assert result.exit_code == 2, result.output
    assert "not a NEM region: 'XX1'; the NEM regions are NSW1, QLD1, SA1, TAS1, VIC1" in said(result)


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s[1])
def test_an_end_before_the_start_fails_the_same_way_for_every_source(arena_home, monkeypatch, source):
    _no_source_asked(monkeypatch)
    result = CliRunner().invoke(cli(), ["ingest", *source, "--region", "SA1",
                                        "--start", "2023-04-20", "--end", "2023-04-18"])
    assert result.exit_code == 2, result.output
    assert said(result) == ("error: empty window: end 2023-04-17 14:00:00+00:00 is not after start "
                            "2023-04-19 14:00:00+00:00")  # one line, no "re-run to resume" for bad input


def test_an_unknown_region_in_the_settings_is_refused_too(arena_home, monkeypatch):
    _no_source_asked(monkeypatch)
    monkeypatch.setenv("ARENA_MARKET_REGION", "SA")
    result = CliRunner().invoke(cli(), ["ingest", "--source", "nemweb"])
    assert result.exit_code == 2 and "not a NEM region: 'SA'" in said(result)


def test_the_plain_functions_refuse_the_same_inputs(arena_home):
    from tasks.prices.ingest import backfill, ingest_file
    from tasks.store import open_store

    store = open_store()
    assert NEM_REGIONS == ("NSW1", "QLD1", "SA1", "TAS1", "VIC1")
    assert check_region(" sa1 ") == "SA1"
    with pytest.raises(DataError, match="the NEM regions are NSW1, QLD1, SA1, TAS1, VIC1"):
        ingest_file(store, APRIL_UTC_PV, "WA1")
    with pytest.raises(DataError, match="empty window"):
        ingest_file(store, APRIL_UTC_PV, "SA1", 1681912800, 1681740000)
    with pytest.raises(DataError, match="empty window"):
        backfill(store, "nemweb", "SA1", 1681912800, 1681912800)
    assert store.read_datapoints("NEM:SA1") == []  # nothing was written by any of them


def test_a_window_the_data_does_not_fully_cover_is_refused_with_what_it_covers(arena_home):
    from arena.models import Datapoint
    from battery_sim.data import iso
    from battery_sim.errors import BadInput
    from tasks.evaluation import require_covered
    from tasks.store import open_store

    store = open_store()
    t0 = 1681516800
    ends = [t0 + 300 * k for k in range(1, 289) if k != 100]  # one day, one interval missing
    store.upsert_datapoints([Datapoint(series="NEM:SA1", interval_end=t, price=50.0) for t in ends])
    require_covered(store, "SA1", ends[0], ends[98])  # inside, before the hole: fine
    require_covered(store, "SA1", ends[0] - 299, ends[98] + 299)  # bounds between interval ends: fine
    require_covered(store, "SA1", None, ends[98])  # an open bound is not checked
    with pytest.raises(BadInput) as hole:
        require_covered(store, "SA1", ends[0], ends[-1])
    assert "1 interval(s) missing inside" in str(hole.value)
    with pytest.raises(BadInput) as late:
        require_covered(store, "SA1", ends[150], ends[-1] + 3600)
    assert (f"does not cover the window {iso(ends[150])} .. {iso(ends[-1] + 3600)}: it covers "
            f"{iso(ends[150])} .. {iso(ends[-1])} (the store holds {iso(ends[0])} .. {iso(ends[-1])})") in str(late.value)
    with pytest.raises(BadInput, match="it covers none of it"):
        require_covered(store, "SA1", ends[-1] + 300, ends[-1] + 3600)
