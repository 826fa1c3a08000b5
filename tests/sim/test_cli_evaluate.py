"""`arena evaluate` end to end: exit codes, the output schema, the summary line."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cli import app
from tests.conftest import APRIL_NAIVE, APRIL_UTC_PV, EXAMPLE_TEAMS

runner = CliRunner()
SCHEMA = {"main_trial", "score", "status", "class_name", "parameters", "num_runs", "main_trial_idx", "error",
          "error_traceback"}
TRIAL = {"profits", "socs", "market_prices", "timestamps", "actions", "solar_actions", "pv_inputs", "final_soc",
         "rundown_profit_deltas"}


def test_builtin_policy_writes_the_2024_schema(tmp_path):
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["evaluate", "--data", str(APRIL_NAIVE), "--rules", "gbh2024", "--policy", "SimplePolicy",
                              "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert "score 2.4897 over 6335 intervals" in res.output
    result = json.loads(out.read_text())
    assert SCHEMA <= set(result) and TRIAL <= set(result["main_trial"])
    assert result["status"] == "success" and result["error"] is None
    assert result["main_trial"]["timestamps"][0] == 1681481100  # 2023-04-15 00:05 NEM = 14:05 UTC the day before
    assert len(result["main_trial"]["profits"]) == 6335


def test_params_window_and_trials(tmp_path):
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["evaluate", "--data", str(APRIL_UTC_PV), "--policy", "MovingAveragePolicy",
                              "--param", "window_size=12", "--start", "2023-04-20 00:00", "--end", "2023-04-25 00:00",
                              "--trials", "3", "--seed", "5", "--output", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads(out.read_text())
    assert result["parameters"] == {"window_size": 12}
    assert result["num_runs"] == 3 and result["trials"]["worst"] <= result["trials"]["mean"]
    assert result["main_trial"]["timestamps"][0] == 1681912800  # 2023-04-20 00:00 NEM = 2023-04-19 14:00 UTC
    assert result["steps"] == 5 * 288 + 1


@pytest.mark.parametrize(
    "args, says",
    [
        (["--policy", "NoSuchPolicy"], "unknown policy 'NoSuchPolicy'"),
        (["--policy", "SimplePolicy", "--rules", "nope"], "unknown ruleset"),
        (["--policy", "SimplePolicy", "--start", "2031-01-01"], "holds no intervals"),
        (["--policy", "SimplePolicy", "--param", "oops"], "use name=value"),
        ([], "exactly one of --policy NAME or --team-dir PATH"),
    ],
)
def test_bad_input_exits_2_without_output(tmp_path, args, says):
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["evaluate", "--data", str(APRIL_NAIVE), "--output", str(out), *args])
    assert res.exit_code == 2
    assert says in res.output
    assert not out.exists()


def test_missing_data_file_exits_2(tmp_path):
    res = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "none.csv"), "--policy", "SimplePolicy",
                              "--output", str(tmp_path / "r.json")])
    assert res.exit_code == 2 and "no such file" in res.output


def test_team_repo_in_process_and_a_failing_team_exits_1(tmp_path):
    ok, bad = tmp_path / "ok.json", tmp_path / "bad.json"
    res = runner.invoke(app, ["evaluate", "--data", str(APRIL_UTC_PV), "--team-dir", str(EXAMPLE_TEAMS / "trend-rider"),
                              "--sandbox", "local", "--output", str(ok)])
    assert res.exit_code == 0, res.output
    assert json.loads(ok.read_text())["class_name"] == "TrendRiderPolicy"
    res = runner.invoke(app, ["evaluate", "--data", str(APRIL_UTC_PV), "--team-dir", str(EXAMPLE_TEAMS / "broken-bot"),
                              "--sandbox", "local", "--output", str(bad)])
    assert res.exit_code == 1
    result = json.loads(bad.read_text())
    assert result["status"] == "error"
    assert result["error"].startswith("interval 199 (2023-04-15 16:35:00+00:00): ")
    assert "KeyError: 'price_forecast_30min'" in result["error"]
    assert "forecaster.py" in result["error_traceback"]


def test_the_console_script_runs(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "cli", "evaluate", "--data", str(APRIL_NAIVE), "--rules",
                           "gbh2024", "--policy", "IdlePolicy", "--output", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["score"] == pytest.approx(1.287)
