"""The committed artifacts: verified, reproducible, and at least as good as persistence."""

import pandas as pd
import pytest

from liquidity.artifacts import load_artifacts
from liquidity.artifacts import default_artifact_paths
from liquidity.features import features_from_frame

pytestmark = pytest.mark.slow  # loads the committed 300-tree model


@pytest.fixture(scope="module")
def committed():
    return load_artifacts(default_artifact_paths())


def test_reloaded_model_predicts_what_the_saved_one_did(committed):
    inputs = pd.DataFrame(committed.card["probe"]["inputs"])
    scores = committed.forest.predict(committed.scaler.transform(features_from_frame(inputs)))
    assert scores.tolist() == committed.card["probe"]["scores"]


def test_committed_model_reaches_the_persistence_baseline(committed):
    models = committed.card["validation"]["grouped_cv"]["models"]
    assert models["random_forest"]["r2"] >= models["persistence"]["r2"]
    assert committed.card["validation"]["grouped_cv"]["folds"] == 5


def test_committed_model_is_small_and_trained_on_the_coingecko_snapshots(committed):
    assert committed.card["artifacts"]["model"]["bytes"] < 5 * 1024 * 1024
    assert [f["name"] for f in committed.card["data"]["files"]] == [
        "coin_gecko_2022-03-16.csv", "coin_gecko_2022-03-17.csv"]
