"""One feature definition for training and serving: calendar-day lags, missing history is NaN, two equal paths."""

import numpy as np
import pandas as pd
import pytest

from liquidity.dataset import add_liquidity_score
from liquidity.features import (
    FEATURE_NAMES,
    HISTORY_FEATURES,
    LONGEST_LAG,
    coin_feature_row,
    features_from_frame,
    input_feature_row,
    input_features,
    rank_in_reference,
    snapshot_features,
)

COLUMN = {name: i for i, name in enumerate(FEATURE_NAMES)}


def market(days=45, coins=6, seed=1, skip=()):
    """A synthetic market: `coins` coins on consecutive days, with the (coin, day) pairs in skip left out."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01")
    rows = []
    for day in range(days):
        for coin in range(coins):
            if (coin, day) in skip:
                continue
            rows.append({"date": str(start + day), "coin_id": f"coin-{coin}", "coin": f"Coin {coin}",
                         "symbol": f"C{coin}", "price": float(np.exp(rng.normal())),
                         "volume": float(np.exp(rng.normal(15, 2))), "mkt_cap": float(np.exp(rng.normal(20, 1))),
                         "1h": np.nan})
    return add_liquidity_score(pd.DataFrame(rows))


def test_lags_are_calendar_days_and_a_gap_is_missing_not_zero():
    frame = market(skip={(0, 9), (0, 2)})  # no row on Jan 10 and Jan 3
    features = snapshot_features(frame)
    row = np.flatnonzero((frame["coin_id"] == "coin-0") & (frame["date"] == "2024-01-12"))[0]
    on = frame.set_index(["coin_id", "date"])["liquidity_score"]
    assert features[row, COLUMN["score_lag1"]] == on[("coin-0", "2024-01-11")]
    eleven = np.flatnonzero((frame["coin_id"] == "coin-0") & (frame["date"] == "2024-01-11"))[0]
    assert np.isnan(features[eleven, COLUMN["score_lag1"]])  # Jan 10 has no row: missing, not Jan 9's
    assert np.isnan(features[eleven, COLUMN["price_change_1d"]])
    assert features[eleven, COLUMN["score_lag7"]] == on[("coin-0", "2024-01-04")]
    window = [on[("coin-0", f"2024-01-{d:02d}")] for d in range(5, 12) if d != 10]  # Jan 5..11 less the gap
    assert features[eleven, COLUMN["score_mean7"]] == pytest.approx(np.mean(window), abs=1e-15)


def test_the_first_days_of_a_coin_have_their_history_missing():
    frame = market(days=3)
    first = snapshot_features(frame)[frame["date"].eq("2024-01-01").to_numpy()]
    lags = [COLUMN[name] for name in HISTORY_FEATURES if not name.startswith("score_mean")]
    assert np.isnan(first[:, lags]).all()
    assert (first[:, COLUMN["score_mean7"]] == first[:, COLUMN["score_today"]]).all()  # the window holds today only


def test_a_missing_1h_stays_missing():
    features = snapshot_features(market(days=2))
    assert np.isnan(features[:, COLUMN["h1"]]).all()


def test_one_coin_path_equals_the_frame_path_bit_for_bit():
    frame = market(days=70, coins=5, skip={(1, 50), (1, 61), (2, 60), (3, 35)})
    whole = snapshot_features(frame)
    for position in range(len(frame)):
        coin, date = frame.loc[position, ["coin_id", "date"]]
        own = frame[(frame["coin_id"] == coin) & (frame["date"] <= date)].tail(LONGEST_LAG + 5)
        row = coin_feature_row(own["date"].to_numpy(), own["volume"], own["mkt_cap"], own["1h"], own["price"],
                               own["liquidity_score"])
        assert row.tobytes() == whole[position].tobytes(), (coin, date)


def test_wanted_rows_equal_the_full_matrix_rows():
    frame = market(days=40)
    rows = np.flatnonzero(frame["date"].eq("2024-02-09").to_numpy())
    assert snapshot_features(frame, rows).tobytes() == snapshot_features(frame)[rows].tobytes()


def test_the_four_input_path_ranks_against_the_reference_and_leaves_history_missing():
    reference = np.array([0.01, 0.02, 0.03])
    assert rank_in_reference(0.02, reference) == pytest.approx((1 + 0.5 + 0.5) / 4)
    assert rank_in_reference(1.0, reference) == pytest.approx(3.5 / 4)
    row = input_feature_row(2e6, 1e8, 0.01, 3.0, reference)
    matrix = input_features([2e6], [1e8], [0.01], [3.0], reference)
    assert np.array_equal(np.array(row), matrix[0], equal_nan=True)
    assert np.isnan(matrix[0, [COLUMN[name] for name in HISTORY_FEATURES]]).all()
    frame = pd.DataFrame({"volume": [2e6], "mkt_cap": [1e8], "1h": [0.01], "price": [3.0]})
    assert np.array_equal(features_from_frame(frame, reference), matrix, equal_nan=True)
    with pytest.raises(ValueError, match="reference"):
        features_from_frame(frame)


def test_one_ratio_ranks_as_the_vectorised_path_does_bit_for_bit():
    from liquidity.features import rank_one_in_reference

    rng = np.random.default_rng(3)
    reference = np.sort(np.concatenate([rng.lognormal(-3, 2, 997), [0.05, 0.05, 0.05]]))  # ties included
    ratios = np.concatenate([rng.lognormal(-3, 2, 500), [0.05, reference[0], reference[-1], 0.0, 1e9]])
    vectorised = rank_in_reference(ratios, reference)
    assert [rank_one_in_reference(float(r), reference) for r in ratios] == vectorised.tolist()
    assert [rank_one_in_reference(float(r), reference.tolist()) for r in ratios] == vectorised.tolist()
