import numpy as np
import pytest

from liquidity.dataset import load_snapshots, make_pairs
from liquidity.modeling.evaluation import coin_groups, grouped_splits, score_metrics, time_ordered_splits


@pytest.fixture
def pairs(snapshots_dir):
    return make_pairs(load_snapshots(snapshots_dir).frame)


def test_grouped_folds_never_put_one_coin_in_train_and_test(pairs):
    data = pairs
    groups = coin_groups(data)
    splits = grouped_splits(data, 3)
    assert len(splits) == 3
    for train, test in splits:
        assert not set(groups[train]) & set(groups[test])
    # Coins appear on two pair dates here, so an ungrouped split could have leaked them.
    assert (data.groupby(["coin", "symbol"]).size() > 1).any()
    assert sorted(np.concatenate([test for _, test in splits])) == list(range(len(data)))


def test_time_ordered_folds_train_on_earlier_dates_and_test_on_the_latest_with_coins_apart(pairs):
    data = pairs
    groups = coin_groups(data)
    splits = time_ordered_splits(data, 3)
    assert splits
    for train, test in splits:
        assert set(data["date"].iloc[test]) == {"2024-01-02"}
        assert set(data["date"].iloc[train]) == {"2024-01-01"}
        assert not set(groups[train]) & set(groups[test])


def test_time_ordered_needs_three_snapshot_dates(snapshots_dir):
    two_dates = make_pairs(load_snapshots([snapshots_dir / "day1.csv", snapshots_dir / "day2.csv"]).frame)
    assert time_ordered_splits(two_dates, 3) == []


def test_score_metrics_of_a_perfect_and_a_wrong_forecast():
    actual = np.array([0.1, 0.4, 0.6, 0.9])
    perfect = score_metrics(actual, actual, 0.5)
    assert perfect["r2"] == 1.0 and perfect["rmse"] == 0.0 and perfect["accuracy"] == 1.0
    assert perfect["roc_auc"] == 1.0
    flipped = score_metrics(actual, 1 - actual, 0.5)
    assert flipped["accuracy"] == 0.0 and flipped["roc_auc"] == 0.0 and flipped["f1"] == 0.0
