import json

from conftest import BROKEN, SNAPSHOTS


def test_train_command_writes_verified_artifacts(runner, tmp_path):
    out = tmp_path / "model"
    result = runner.invoke(args=["train", "--data", str(SNAPSHOTS), "--out", str(out), "--quick", "--folds", "3"])
    assert result.exit_code == 0, result.output
    card = json.loads((out / "model_card.json").read_text())
    assert card["model_version"] in result.output
    assert card["data"]["dates"] == ["2024-01-01", "2024-01-04"] and card["data"]["snapshot_dates"] == 3


def test_train_command_reports_bad_data_in_one_line_without_a_traceback(runner, tmp_path):
    result = runner.invoke(args=["train", "--data", str(BROKEN / "missing_mkt_cap.csv"), "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "missing required column 'mkt_cap'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "model_card.json").exists()
