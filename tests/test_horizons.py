"""The 1-, 7- and 30-day forecasts: targets, the multi-output forest's scores and their conformal intervals."""

import json

import numpy as np
import pandas as pd
import pytest

from liquidity.artifacts import PREDICTIONS_FILE
from liquidity.dataset import add_horizon_targets, load_snapshots, make_pairs
from liquidity.features import INPUT_COLUMNS, snapshot_features
from liquidity.modeling import card as model_card
from liquidity.modeling import conformal
from liquidity.modeling.predict import LiquidityModel, interval_columns
from liquidity.modeling.train import forecasts_from_held_out

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def history(horizons_dir):
    return load_snapshots(horizons_dir).frame


def test_a_horizons_target_is_the_coins_score_exactly_that_many_days_later(history):
    gappy = history[~((history["coin_id"] == "coin-3") & (history["date"] == "2024-02-08"))]
    pairs = add_horizon_targets(make_pairs(gappy), gappy, (1, 7, 30))
    score = gappy.set_index(["coin_id", "date"])["liquidity_score"]
    row = pairs[(pairs["coin_id"] == "coin-5") & (pairs["date"] == "2024-01-10")].iloc[0]
    assert row["target_1d"] == row["next_liquidity_score"] == score[("coin-5", "2024-01-11")]
    assert row["target_7d"] == score[("coin-5", "2024-01-17")] and row["target_date_7d"] == "2024-01-17"
    assert row["target_30d"] == score[("coin-5", "2024-02-09")]
    missing = pairs[(pairs["coin_id"] == "coin-3") & (pairs["date"] == "2024-02-01")].iloc[0]
    assert np.isnan(missing["target_7d"])  # no row on 02-08: missing, not the next row's score
    assert pairs.loc[pairs["date"] > "2024-06-18", "target_30d"].isna().all()


def test_the_card_holds_every_horizons_figures_and_interval_table(horizons_model):
    card = horizons_model.card
    assert card["horizons"] == [1, 7, 30] and horizons_model.horizons == (1, 7, 30)
    assert model_card.check_card(card) == []
    assert set(card["validation"]["horizons"]) == {"1", "7", "30"}
    for figures in card["validation"]["horizons"].values():
        assert set(figures["models"]) == {"random_forest", "linear_regression", "persistence", "mean_7_days",
                                          "mean_30_days"}
    tables = card["conformal"]["tables"]
    assert set(tables) == {"1", "7", "30"} and card["conformal"]["levels"] == [80, 90]
    assert all(table["calibrated_on"] == card["data"]["dates"][1] for table in tables.values())
    assert set(card["verification"]["conformal_tables"]) == {"1", "7", "30"}


def test_a_card_whose_interval_table_is_broken_is_refused(horizons_model):
    import json

    card = json.loads(json.dumps(horizons_model.card))
    card["conformal"]["tables"]["7"]["half_widths"]["80"].pop()
    assert model_card.check_card(card) == ["conformal.tables.7"]
    del card["conformal"]["tables"]["30"]
    assert "conformal.tables.30" in model_card.check_card(card)


def test_one_coins_horizons_equal_the_whole_market_forecast_and_its_1_day_forecast(history, horizons_model):
    forecasts = horizons_model.forecast_snapshots(history, dates=["2024-07-18"], horizons=(1, 7, 30))
    assert list(forecasts.columns[8:]) == [c for h in (1, 7, 30) for c in interval_columns(h)]
    assert list(forecasts.columns[8:13]) == ["forecast_score_1d", "low80_1d", "high80_1d", "low90_1d", "high90_1d"]
    by_coin = forecasts.set_index("coin_id")
    for coin in ("coin-0", "coin-17", "coin-39"):
        own = history[history["coin_id"] == coin]
        inputs = (own["date"].to_numpy(), own["volume"], own["mkt_cap"], own["1h"], own["price"],
                  own["liquidity_score"])
        every = horizons_model.forecast_history_horizons(*inputs)
        one_day = horizons_model.forecast_history(*inputs)
        assert [h.horizon for h in every.horizons] == [1, 7, 30]
        assert every.score == one_day.score == by_coin.loc[coin, "score"]
        assert every.horizons[0].forecast_score == one_day.forecast_score
        # band_low/band_high of the 1-day methods are its 80 % interval
        assert (one_day.band_low, one_day.band_high) == (every.horizons[0].low80, every.horizons[0].high80)
        for horizon in every.horizons:
            expected = by_coin.loc[coin, interval_columns(horizon.horizon)].to_numpy(dtype=float)
            got = [horizon.forecast_score, horizon.low80, horizon.high80, horizon.low90, horizon.high90]
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
            assert horizon.low90 <= horizon.low80 <= horizon.forecast_score <= horizon.high80 <= horizon.high90
            assert horizon.level == ("High" if horizon.forecast_score >= 0.5 else "Low")
    assert (forecasts["band_low"] == forecasts["low80_1d"]).all()
    assert (forecasts["forecast_score"] == forecasts["forecast_score_1d"]).all()


def test_the_interval_is_the_cards_table_around_the_forecast(history, horizons_model):
    forecasts = horizons_model.forecast_snapshots(history, dates=["2024-07-18"], horizons=(30,))
    table = horizons_model.card["conformal"]["tables"]["30"]
    low, high = conformal.interval(table, forecasts["forecast_score_30d"].to_numpy(), 90)
    np.testing.assert_array_equal(forecasts["low90_30d"], low)
    np.testing.assert_array_equal(forecasts["high90_30d"], high)
    assert "forecast_score_7d" not in forecasts


def test_a_callers_calibration_replaces_the_cards_tables(history, horizons_model):
    narrow = {str(h): {"edges": [], "half_widths": {"80": [0.01], "90": [0.02]}} for h in (1, 7, 30)}
    forecasts = horizons_model.forecast_snapshots(history, dates=["2024-07-18"], horizons=(7,), calibration=narrow)
    np.testing.assert_allclose(forecasts["high80_7d"] - forecasts["forecast_score_7d"], 0.01, atol=1e-12)
    own = history[history["coin_id"] == "coin-1"]
    inputs = (own["date"].to_numpy(), own["volume"], own["mkt_cap"], own["1h"], own["price"], own["liquidity_score"])
    week = horizons_model.forecast_history_horizons(*inputs, calibration=narrow).horizons[1]
    prepared = horizons_model.prepared_intervals(narrow)
    assert horizons_model.forecast_history_horizons(*inputs, calibration=prepared).horizons[1] == week
    assert week.high90 - week.forecast_score == pytest.approx(0.02, abs=1e-12)
    with pytest.raises(ValueError, match="horizon.*30"):
        horizons_model.forecast_snapshots(history, horizons=(7,), calibration={"1": narrow["1"], "7": narrow["7"]})


def test_an_unknown_horizon_is_refused_by_name(history, horizons_model, fixture_model):
    with pytest.raises(ValueError, match="horizon 14 is not one of the model's horizons"):
        horizons_model.forecast_snapshots(history, horizons=(1, 14))
    with pytest.raises(ValueError, match="horizon 7 is not one of the model's horizons \\[1\\]"):
        fixture_model.forecast_snapshots(history, horizons=(7,))


def test_the_fast_path_scores_every_horizon_as_scikit_learn(history, horizons_model):
    horizons_model.warm_up()
    assert horizons_model.backend == "onnxruntime" and horizons_model.fast.n_outputs == 3
    features = snapshot_features(history.assign(**{"1h": np.nan}))
    expected = horizons_model.forest.predict(horizons_model.scaler.transform(features))
    assert expected.shape == (len(history), 3)
    got = horizons_model.predict_horizon_scores(features)
    assert np.max(np.abs(got - expected)) <= TOLERANCE
    masked = features.copy()
    masked[:, 6:] = np.nan  # the four-input path: history missing
    assert np.max(np.abs(horizons_model.predict_horizon_scores(masked)
                         - horizons_model.forest.predict(horizons_model.scaler.transform(masked)))) <= TOLERANCE
    for row in features[:50]:
        assert horizons_model.fast.predict_outputs_row(row) == pytest.approx(
            horizons_model.forest.predict(horizons_model.scaler.transform(row.reshape(1, -1)))[0], abs=TOLERANCE)
    slow = LiquidityModel(horizons_model.forest, horizons_model.scaler, horizons_model.card)
    slow.fast, slow.backend = None, "scikit-learn"
    np.testing.assert_array_equal(slow.predict_horizon_scores(features), expected)
    np.testing.assert_array_equal(slow.predict_scores(features), expected[:, 0])


def test_the_four_input_forecast_is_the_1_day_forecast_with_its_80_percent_interval(horizons_model):
    inputs = {"volume": 2e7, "mkt_cap": 1e9, "h1": 0.01, "price": 3.0}
    forecast = horizons_model.forecast(**inputs)
    frame = pd.DataFrame([dict(zip(INPUT_COLUMNS, inputs.values()))])
    features = horizons_model.input_features(frame)
    assert forecast.score == pytest.approx(horizons_model.predict_horizon_scores(features)[0, 0], abs=TOLERANCE)
    low, high = conformal.interval(horizons_model.card["conformal"]["tables"]["1"], [forecast.score], 80)
    assert (forecast.band_low, forecast.band_high) == (low[0], high[0])
    scored = horizons_model.forecast_frame(frame)
    assert (scored["band_low"].iloc[0], scored["band_high"].iloc[0]) == pytest.approx((low[0], high[0]), abs=1e-9)


def test_the_held_out_forecasts_saved_beside_the_card_give_back_its_coverage(horizons_trained_dir, horizons_model):
    held_out = pd.read_csv(horizons_trained_dir / PREDICTIONS_FILE)
    forecasts = {horizon: forecasts_from_held_out(held_out, horizon) for horizon in (1, 7, 30)}
    rolled = conformal.held_out_intervals(forecasts, horizons_model.card["conformal"]["window_days"])
    coverage = horizons_model.card["conformal"]["coverage"]
    assert coverage["1"]["rows"] > 0 and coverage["7"]["rows"] > 0
    assert {str(horizon): json.loads(json.dumps(conformal.coverage_report(rows)))
            for horizon, rows in rolled.items()} == coverage
