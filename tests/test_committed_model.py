"""The committed artifacts: verified, reproducible, and better than the baselines on the time-ordered test."""

import io
import json

import pandas as pd
import pytest

from liquidity.artifacts import PREDICTIONS_FILE, committed_artifact_paths, load_artifacts
from liquidity.modeling import card as model_card
from liquidity.modeling.evaluation import beats, score_metrics
from liquidity.modeling.train import forecasts_from_held_out
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


def test_every_horizon_beats_persistence_and_the_7_and_30_day_means(committed):
    figures = committed.card["validation"]["horizons"]
    assert committed.card["horizons"] == [1, 7, 30] and list(figures) == ["1", "7", "30"]
    for horizon, block in figures.items():
        models = block["models"]
        for baseline in ("persistence", "mean_7_days", "mean_30_days"):
            assert beats(models["random_forest"], models[baseline]) == [], (horizon, baseline)
    for horizon in ("7", "30"):  # the goal: MAE at least 10 % below persistence a week and a month ahead
        models = figures[horizon]["models"]
        assert models["random_forest"]["mae"] <= 0.9 * models["persistence"]["mae"], horizon


def test_intervals_cover_their_level_overall_and_in_every_quintile_of_the_score(committed):
    conformal = committed.card["conformal"]
    assert conformal["levels"] == [80, 90] and conformal["calibrated_on"] == "2024-12-31"
    for horizon, report in conformal["coverage"].items():
        assert report["rows"] > 100_000, horizon
        assert abs(report["coverage80"] - 0.80) <= 0.02, horizon
        assert report["coverage90"] >= 0.89, horizon
        for quintile in report["by_quintile"]:
            assert abs(quintile["coverage80"] - 0.80) <= 0.02, (horizon, quintile)
            assert quintile["coverage90"] >= 0.89, (horizon, quintile)
        assert len(report["by_month"]) >= 8


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


def test_saved_test_predictions_reproduce_every_horizons_figures_and_the_intervals_coverage(committed):
    from liquidity.modeling import conformal

    held_out = pd.read_csv(PROJECT_ROOT / PREDICTIONS_FILE)
    card = committed.card
    for horizon in (7, 30):
        figures = score_metrics(held_out[f"target_{horizon}d"], held_out[f"predicted_random_forest_{horizon}d"],
                                held_out["date"], card["threshold"])
        assert figures["mae"] == pytest.approx(
            card["validation"]["horizons"][str(horizon)]["models"]["random_forest"]["mae"], abs=1e-9)
    forecasts = {horizon: forecasts_from_held_out(held_out, horizon) for horizon in (1, 7, 30)}
    rolled = conformal.held_out_intervals(forecasts, card["conformal"]["window_days"])
    for horizon, rows in rolled.items():
        assert json.loads(json.dumps(conformal.coverage_report(rows))) == card["conformal"]["coverage"][str(horizon)]
    # The 30-day half-widths are scaled by the spread factor of the 1-day forecasts' fresh misses.
    table = conformal.calibration_table(forecasts[30], "2024-12-31", window_days=card["conformal"]["window_days"],
                                        shortest=forecasts[1])
    assert table == card["conformal"]["tables"]["30"]


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
