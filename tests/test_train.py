import json

import numpy as np
import pandas as pd
import pytest

from liquidity.artifacts import MODEL_FILE, SCALER_FILE, ArtifactPaths, load_artifacts, sha256_file
from liquidity.features import FEATURE_NAMES, HISTORY_FEATURES
from liquidity.modeling import card as model_card
from liquidity.modeling.evaluation import beats, coin_fold, score_metrics, time_ordered_splits
from liquidity.modeling.train import QUICK_GRID, TrainingConfig, train, training_sample


@pytest.fixture(scope="module")
def card(trained_dir):
    return json.loads((trained_dir / "model_card.json").read_text())


def test_model_card_records_data_features_and_hashes(card, trained_dir):
    assert card["data"]["dates"] == ["2024-01-01", "2024-01-04"]
    assert card["data"]["snapshot_dates"] == 3
    assert card["data"]["pairs"] == 24
    assert card["data"]["gap_days"] == {"1": 12, "2": 12}
    assert [f["name"] for f in card["features"]] == list(FEATURE_NAMES)
    missing = {f["name"]: f["missing_share"] for f in card["features"]}
    assert missing["log_volume"] == 0 and missing["score_lag1"] > 0  # day 1 has no day before it
    assert missing["score_lag30"] == 1.0
    assert card["inputs"]["mkt_cap"]["max"] == 780000000000  # day 4 rows are only targets
    assert card["artifacts"]["model"]["sha256"] == sha256_file(trained_dir / MODEL_FILE)
    assert card["artifacts"]["scaler"]["sha256"] == sha256_file(trained_dir / SCALER_FILE)
    assert set(card["hyperparameters"]) == {"n_estimators", "max_depth", "min_samples_leaf"}
    assert set(card["validation"]["models"]) == {"random_forest", "linear_regression", "persistence", "mean_7_days",
                                                 "mean_30_days"}
    # Three dates reach no 7- or 30-day target: the model forecasts the horizon its data holds, and says so.
    assert card["horizons"] == [1]
    assert card["validation"]["horizons"]["1"]["models"] == card["validation"]["models"]
    assert set(card["validation"]["four_input"]["models"]) == {"random_forest", "linear_regression", "persistence"}
    assert card["validation"]["splits"][0]["origin"] == "2024-01-02"
    assert card["training"]["masked_share"] == TrainingConfig().masked_share
    assert model_card.check_card(card) == []


def test_persistence_baseline_is_todays_score_on_the_tested_rows(card, trained_dir):
    held_out = pd.read_csv(trained_dir / "cv_predictions.csv.gz")
    assert len(held_out) == card["validation"]["pairs_tested"]
    expected = score_metrics(held_out["next_liquidity_score"], held_out["liquidity_score"], held_out["date"], 0.5)
    reported = card["validation"]["models"]["persistence"]
    assert reported["r2"] == pytest.approx(expected["r2"])
    assert reported["mae"] == pytest.approx(expected["mae"])
    forest = score_metrics(held_out["next_liquidity_score"], held_out["predicted_random_forest"], held_out["date"], 0.5)
    assert forest["r2"] == pytest.approx(card["validation"]["models"]["random_forest"]["r2"])


def test_training_twice_gives_identical_metrics(snapshots_dir, card, tmp_path):
    again = train(snapshots_dir, tmp_path, grid=QUICK_GRID, n_folds=3, n_jobs=1, verbose=0, progress=lambda _: None)
    assert again["validation"] == card["validation"]
    assert again["hyperparameters"] == card["hyperparameters"]
    assert again["probe"] == card["probe"]


def test_training_rejects_a_single_snapshot_date(snapshots_dir, tmp_path):
    from liquidity.dataset import DatasetError

    with pytest.raises(DatasetError, match="two snapshot dates"):
        train(snapshots_dir / "day1.csv", tmp_path, grid=QUICK_GRID, progress=lambda _: None)
    assert not any(tmp_path.iterdir())


def test_probe_scores_in_the_card_come_from_the_saved_model(trained_dir):
    artifacts = load_artifacts(ArtifactPaths.in_folder(trained_dir))
    assert model_card.probe_differences(
        artifacts.card, lambda rows: artifacts.forest.predict(artifacts.scaler.transform(rows))) == []
    probe = model_card.matrix_from_json(artifacts.card["probe"]["features"])
    assert np.isnan(probe[:, [FEATURE_NAMES.index(n) for n in HISTORY_FEATURES]]).all(axis=1).any()


def test_a_changed_probe_score_is_reported(trained_dir):
    artifacts = load_artifacts(ArtifactPaths.in_folder(trained_dir))
    card = json.loads(json.dumps(artifacts.card))
    card["probe"]["scores"][0] += 1e-9
    differences = model_card.probe_differences(
        card, lambda rows: artifacts.forest.predict(artifacts.scaler.transform(rows)))
    assert len(differences) == 1 and "probe row 0" in differences[0]


def test_the_training_sample_adds_masked_copies_of_a_share_of_rows():
    features = np.arange(40.0 * len(FEATURE_NAMES)).reshape(40, -1)
    config = TrainingConfig(max_rows=30, masked_share=0.5)
    rows, target, index = training_sample(np.arange(40), features, np.arange(40.0), config, seed=1)
    history = [FEATURE_NAMES.index(n) for n in HISTORY_FEATURES]
    masked = np.isnan(rows[:, history]).all(axis=1)
    assert (~masked).sum() == 30 and 5 < masked.sum() < 25
    assert not np.isnan(rows[masked][:, [FEATURE_NAMES.index("score_today")]]).any()
    np.testing.assert_array_equal(target, index.astype(float))  # each copy keeps its own row's target


def test_time_ordered_splits_keep_a_gap_and_apart_coins():
    dates = np.repeat(pd.date_range("2024-01-01", periods=100).strftime("%Y-%m-%d").to_numpy(), 10)
    next_dates = np.repeat(pd.date_range("2024-01-02", periods=100).strftime("%Y-%m-%d").to_numpy(), 10)
    coins = np.tile([f"coin-{i}" for i in range(10)], 100)
    splits = time_ordered_splits(dates, next_dates, coins, ["2024-03-01", "2024-03-21"], 31, 20)
    assert len(splits) == 4
    for trained, tested, info in splits:
        origin = np.datetime64(info["origin"])
        assert (next_dates[trained].astype("datetime64[D]") <= origin - 31).all()
        assert (dates[tested].astype("datetime64[D]") >= origin).all()
        assert not set(coins[trained]) & set(coins[tested])
    assert (coin_fold(coins, 2) == coin_fold(coins[::-1], 2)[::-1]).all()


def test_beats_names_every_figure_the_model_does_not_win():
    model = {"r2": 0.9, "mae": 0.05, "spearman": 0.95, "accuracy": 0.9, "f1": 0.9, "roc_auc": 0.97}
    assert beats(model, dict(model, r2=0.8, mae=0.06, spearman=0.9, accuracy=0.8, f1=0.8, roc_auc=0.9)) == []
    assert beats(model, dict(model, mae=0.04)) == ["r2", "mae", "spearman", "accuracy", "f1", "roc_auc"]
    assert beats(model, dict(model, r2=0.5, spearman=0.5, accuracy=0.5, f1=0.5, roc_auc=0.5, mae=0.05)) == ["mae"]


def test_compare_figures_names_the_figure_that_moved():
    old = {"validation": {"models": {"random_forest": {"r2": 0.9, "mae": 0.05}}}, "hyperparameters": {"max_depth": 12}}
    assert model_card.compare_figures(old, json.loads(json.dumps(old))) == []
    moved = json.loads(json.dumps(old))
    moved["validation"]["models"]["random_forest"]["mae"] = 0.0500001
    moved["hyperparameters"]["max_depth"] = 10
    lines = model_card.compare_figures(old, moved)
    assert len(lines) == 2 and "validation.models.random_forest.mae" in lines[0] and "max_depth" in lines[1]
