"""The committed artifacts: verified, reproducible, and better than the baselines on the time-ordered test."""

import io

import pandas as pd
import pytest

from liquidity.artifacts import PREDICTIONS_FILE, committed_artifact_paths, load_artifacts
from liquidity.modeling import card as model_card
from liquidity.modeling.evaluation import beats, score_metrics
from liquidity.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow  # loads the committed 300-tree model


@pytest.fixture(scope="module")
def committed():
    return load_artifacts(committed_artifact_paths())


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


@pytest.fixture(scope="module")
def committed_client(tmp_path_factory):
    """A client of the app on the committed artifacts, as `make run` serves them."""
    from liquidity.web import create_app

    report_dir = tmp_path_factory.mktemp("EDA_REPORT")
    app = create_app({"TESTING": True, "REPORT_DIR": report_dir, "RATELIMIT_ENABLED": False,
                      "WTF_CSRF_ENABLED": False})
    return app.test_client()


BITCOIN_API = {"price": 40859.46, "1h": 0.022, "24h_volume": 35390763321, "mkt_cap": 770991461396}


def test_the_app_serves_every_route_on_the_committed_model(committed_client, committed):
    single = committed_client.post("/api/v1/predict", json=BITCOIN_API)
    assert single.status_code == 200, single.get_data(as_text=True)
    assert single.get_json()["model_version"] == committed.card["model_version"]
    assert single.get_json()["prediction"]["warnings"] == []
    percent = committed_client.post("/api/v1/predict", json=[BITCOIN_API, {**BITCOIN_API, "1h": 2.2}])
    assert percent.status_code == 200
    assert [len(item["warnings"]) for item in percent.get_json()["predictions"]] == [0, 1]
    form = {"volume": "35390763321", "mkt_cap": "770991461396", "h1": "2.2", "price": "40859.46"}
    assert committed_client.get("/predict", query_string=form).status_code == 200
    for page in ("/", "/model", "/batch", "/docs/api", "/api/v1/model", "/healthz"):
        assert committed_client.get(page).status_code == 200, page
    upload = b"coin,symbol,price,1h,volume,mkt_cap\nBitcoin,BTC,40859.46,0.022,35390763321,770991461396\n"
    scored = committed_client.post("/batch", data={"action": "download", "file": (io.BytesIO(upload), "s.csv")})
    assert scored.status_code == 200 and b"Bitcoin" in scored.data
