import pandas as pd
import pytest

ROWS = pd.DataFrame({
    "volume": [30e9, 7810.13, 0.0, 5e10],
    "mkt_cap": [760e9, 133599281, 5e7, 1e13],
    "1h": [0.01, 0.001, -0.03, 0.0],
    "price": [40000.0, 0.295224, 0.05, 5e8],
}, index=[3, 7, 8, 9])


def test_forecast_frame_matches_forecast_row_by_row(fixture_model):
    frame = fixture_model.forecast_frame(ROWS)
    assert list(frame.index) == [3, 7, 8, 9]
    for index, row in ROWS.iterrows():
        one = fixture_model.forecast(row["volume"], row["mkt_cap"], row["1h"], row["price"])
        got = frame.loc[index]
        assert got["liquidity_score"] == pytest.approx(one.score)
        assert got["liquidity_level"] == one.level
        assert (got["band_low"], got["band_high"]) == pytest.approx((one.band_low, one.band_high))
        assert got["implied_ratio"] == pytest.approx(one.implied_ratio)
        assert got["implied_volume"] == pytest.approx(one.implied_volume)
        assert got["out_of_range"] == one.out_of_range


def test_forecast_frame_flags_inputs_beyond_the_training_range(fixture_model):
    flags = fixture_model.forecast_frame(ROWS)["out_of_range"]
    assert set(flags.loc[9]) == {"mkt_cap", "price"}
