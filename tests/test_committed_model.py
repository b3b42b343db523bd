"""The committed artifacts: verified, reproducible, and better than the baselines on the time-ordered test."""

import pandas as pd
import pytest

from liquidity.artifacts import PREDICTIONS_FILE, default_artifact_paths, load_artifacts
from liquidity.modeling import card as model_card
from liquidity.modeling.evaluation import beats, score_metrics
from liquidity.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow  # loads the committed 300-tree model


@pytest.fixture(scope="module")
def committed():
    return load_artifacts(default_artifact_paths())


def test_reloaded_model_predicts_what_the_saved_one_did(committed):
    def predict(rows):
        return committed.forest.predict(committed.scaler.transform(rows))

    assert model_card.check_card(committed.card) == []
    assert len(committed.card["probe"]["scores"]) >= 10
    assert model_card.probe_differences(committed.card, predict) == []


def test_history_path_beats_persistence_and_the_7_day_mean_on_every_figure(committed):
    models = committed.card["validation"]["models"]
    assert beats(models["random_forest"], models["persistence"]) == []
    assert beats(models["random_forest"], models["mean_7_days"]) == []


def test_four_input_path_is_no_worse_than_persistence_on_r2(committed):
    models = committed.card["validation"]["four_input"]["models"]
    assert models["random_forest"]["r2"] >= models["persistence"]["r2"]


def test_validation_is_time_ordered_with_a_gap_of_at_least_the_longest_lag(committed):
    from liquidity.features import LONGEST_LAG

    splits = committed.card["validation"]["splits"]
    assert len({split["origin"] for split in splits}) >= 2  # rolling origin
    assert all(split["gap_days"] >= LONGEST_LAG for split in splits)


def test_saved_test_predictions_reproduce_the_cards_figures(committed):
    held_out = pd.read_csv(PROJECT_ROOT / PREDICTIONS_FILE)
    validation = committed.card["validation"]
    assert len(held_out) == validation["pairs_tested"]
    figures = score_metrics(held_out["next_liquidity_score"], held_out["predicted_random_forest"], held_out["date"],
                            committed.card["threshold"])
    for name, value in figures.items():
        assert value == pytest.approx(validation["models"]["random_forest"][name], abs=1e-9), name


def test_committed_model_is_small_and_trained_on_the_daily_history(committed):
    assert committed.card["artifacts"]["model"]["bytes"] < 10 * 1024 * 1024
    assert [f["name"] for f in committed.card["data"]["files"]] == [
        f"coingecko_daily_{year}.csv" for year in range(2017, 2025)]
