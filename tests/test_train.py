import json

import numpy as np
import pytest

from liquidity.artifacts import MODEL_FILE, SCALER_FILE, sha256_file
from liquidity.dataset import load_snapshots, make_pairs
from liquidity.modeling.evaluation import score_metrics
from liquidity.modeling.train import QUICK_GRID, train


@pytest.fixture(scope="module")
def card(trained_dir):
    return json.loads((trained_dir / "model_card.json").read_text())


def test_model_card_records_data_features_and_hashes(card, trained_dir):
    assert card["data"]["dates"] == ["2024-01-01", "2024-01-02", "2024-01-04"]
    assert card["data"]["pairs"] == 24
    assert card["data"]["date_pairs"][1] == {"date": "2024-01-02", "next_date": "2024-01-04", "gap_days": 2,
                                             "pairs": 12}
    assert [f["name"] for f in card["features"]] == ["log_volume", "log_mkt_cap", "log_turnover", "h1",
                                                     "log_price"]
    assert card["inputs"]["mkt_cap"]["max"] == 780000000000  # day 4 rows are only targets
    assert card["artifacts"]["model"]["sha256"] == sha256_file(trained_dir / MODEL_FILE)
    assert card["artifacts"]["scaler"]["sha256"] == sha256_file(trained_dir / SCALER_FILE)
    assert set(card["hyperparameters"]) == {"n_estimators", "max_depth", "min_samples_split", "min_samples_leaf"}
    assert set(card["validation"]["grouped_cv"]["models"]) == {"random_forest", "linear_regression", "persistence"}
    assert card["validation"]["time_ordered"]["test_date"] == "2024-01-02"


def test_persistence_baseline_is_todays_score_on_the_tested_pairs(snapshots_dir, card):
    pairs = make_pairs(load_snapshots(snapshots_dir).frame)
    expected = score_metrics(pairs["next_liquidity_score"], pairs["liquidity_score"], 0.5)
    reported = card["validation"]["grouped_cv"]["models"]["persistence"]
    assert reported["r2"] == pytest.approx(expected["r2"])
    assert reported["mae"] == pytest.approx(expected["mae"])


def test_training_twice_gives_identical_metrics(snapshots_dir, card, tmp_path):
    again = train(snapshots_dir, tmp_path, grid=QUICK_GRID, n_folds=3, n_jobs=1, verbose=0, progress=lambda _: None)
    assert again["validation"] == card["validation"]
    assert again["hyperparameters"] == card["hyperparameters"]


def test_training_rejects_a_single_snapshot_date(snapshots_dir, tmp_path):
    from liquidity.dataset import DatasetError

    with pytest.raises(DatasetError, match="two snapshot dates"):
        train(snapshots_dir / "day1.csv", tmp_path, grid=QUICK_GRID, progress=lambda _: None)
    assert not any(tmp_path.iterdir())


def test_probe_scores_in_the_card_come_from_the_saved_model(card, fixture_model):
    import pandas as pd

    inputs = pd.DataFrame(card["probe"]["inputs"])
    np.testing.assert_array_equal(fixture_model.predict_frame(inputs)["liquidity_score"], card["probe"]["scores"])


def test_held_out_predictions_are_saved_beside_the_card(card, trained_dir):
    import pandas as pd

    held_out = pd.read_csv(trained_dir / "cv_predictions.csv")
    assert len(held_out) == card["data"]["pairs"]
    assert (held_out["predicted_persistence"] == held_out["liquidity_score"]).all()
    forest = score_metrics(held_out["next_liquidity_score"], held_out["predicted_random_forest"], 0.5)
    assert forest["r2"] == pytest.approx(card["validation"]["grouped_cv"]["models"]["random_forest"]["r2"])
