"""`arena evaluate --data` on a malformed file: one line of error and exit 2, never a traceback
(pandas 3 reads text columns as its string dtype, which once slipped past the number check)."""

import pytest
from typer.testing import CliRunner

from battery_sim.data import from_frame, load_market_csv
from battery_sim.errors import BadInput
from cli import app
from tests.prices.test_ingest_safety import MALFORMED, SAYS, one_line_error

runner = CliRunner()
EVALUATE_SAYS = {**SAYS, "header-only": "no rows", "no-market-column": "missing column(s) price"}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_evaluate_of_a_malformed_file_is_one_line_and_exit_2(tmp_path, kind):
    path = tmp_path / f"{kind}.csv"
    path.write_bytes(MALFORMED[kind])
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["evaluate", "--data", str(path), "--policy", "SimplePolicy", "--output", str(out)])
    one_line_error(res, EVALUATE_SAYS[kind])
    assert res.exit_code == 2 and not out.exists()


def test_text_prices_in_a_string_dtype_frame_are_bad_input():
    import pandas as pd

    raw = pd.DataFrame({"timestamp": ["2024-04-02 17:00:00", "2024-04-02 17:05:00"],
                        "price": pd.array(["12", "$42.50"], dtype="string")})
    with pytest.raises(BadInput, match=r"row 2 .*price '\$42.50' is not a number"):
        from_frame(raw)


def test_other_columns_stay_as_the_file_gave_them(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("timestamp,note,price,extra\n2024-04-02 17:00:00,hi,1,5\n2024-04-02 17:05:00,yo,2,6\n")
    data = load_market_csv(path)
    assert list(data.frame.columns) == ["timestamp", "note", "price", "extra", "pv_power"]
    assert data.frame["note"].tolist() == ["hi", "yo"] and data.frame["extra"].tolist() == [5.0, 6.0]
