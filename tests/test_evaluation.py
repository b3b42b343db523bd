import numpy as np
import pytest

from liquidity.dataset import load_snapshots, make_pairs
from liquidity.modeling.evaluation import score_metrics, spearman_per_date, time_ordered_splits


@pytest.fixture
def pairs(snapshots_dir):
    return make_pairs(load_snapshots(snapshots_dir).frame)


def test_time_ordered_splits_test_later_dates_on_coins_never_trained_on(pairs):
    data = pairs
    splits = time_ordered_splits(data["date"], data["next_date"], data["coin_id"], ["2024-01-02"], 0, 1)
    assert len(splits) == 2
    coins = data["coin_id"].to_numpy()
    for train, test, info in splits:
        assert set(data["date"].iloc[test]) == {"2024-01-02"}
        assert set(data["date"].iloc[train]) == {"2024-01-01"}
        assert not set(coins[train]) & set(coins[test])
        assert info["train_rows"] == len(train) and info["test_rows"] == len(test)
    # Coins appear on two pair dates here, so an ungrouped split could have leaked them.
    assert (data.groupby("coin_id").size() > 1).any()


def test_a_gap_keeps_training_targets_away_from_the_test_window(pairs):
    data = pairs
    assert time_ordered_splits(data["date"], data["next_date"], data["coin_id"], ["2024-01-02"], 1, 1) == []


def test_score_metrics_of_a_perfect_and_a_wrong_forecast():
    actual = np.array([0.1, 0.4, 0.6, 0.9])
    dates = np.array(["d"] * 4)
    perfect = score_metrics(actual, actual, dates, 0.5)
    assert perfect["r2"] == 1.0 and perfect["rmse"] == 0.0 and perfect["accuracy"] == 1.0
    assert perfect["roc_auc"] == 1.0 and perfect["spearman"] == 1.0
    flipped = score_metrics(actual, 1 - actual, dates, 0.5)
    assert flipped["accuracy"] == 0.0 and flipped["roc_auc"] == 0.0 and flipped["f1"] == 0.0
    assert flipped["spearman"] == -1.0


def test_spearman_is_the_mean_of_within_date_rank_correlations():
    actual = np.array([0.1, 0.2, 0.3, 0.9, 0.8, 0.7])
    predicted = np.array([0.5, 0.6, 0.7, 0.1, 0.2, 0.3])  # right order on day a, reversed on day b
    dates = np.array(["a"] * 3 + ["b"] * 3)
    assert spearman_per_date(actual, predicted, dates) == 0.0
    # Pooled over both days the ranks would correlate strongly negatively: the per-date mean does not.
    assert np.corrcoef(actual, predicted)[0, 1] < -0.5
