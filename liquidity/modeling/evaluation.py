"""Honest validation: coin-grouped folds, a time-ordered split, and baselines on the same folds."""

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score, roc_auc_score
from sklearn.model_selection import GroupKFold


def coin_groups(pairs):
    """Return one group label per pair: the coin's name and symbol."""
    return (pairs["coin"] + "|" + pairs["symbol"]).to_numpy()


def grouped_splits(pairs, n_folds):
    """Return GroupKFold (train, test) index pairs that never put one coin on both sides."""
    groups = coin_groups(pairs)
    n_folds = min(n_folds, len(np.unique(groups)))
    return list(GroupKFold(n_splits=n_folds).split(pairs, groups=groups))


def time_ordered_splits(pairs, n_folds):
    """Train on pairs before the latest date, test on the latest date's pairs, coins kept apart.

    Returns [] when there are fewer than two pair dates (three snapshot dates).
    """
    pair_dates = sorted(pairs["date"].unique())
    if len(pair_dates) < 2:
        return []
    latest = pairs["date"].to_numpy() == pair_dates[-1]
    groups = coin_groups(pairs)
    splits = []
    for _, test in grouped_splits(pairs, n_folds):
        test_coins = set(groups[test])
        in_test_coins = np.isin(groups, list(test_coins))
        train_index = np.flatnonzero(~latest & ~in_test_coins)
        test_index = np.flatnonzero(latest & in_test_coins)
        if len(train_index) and len(test_index):
            splits.append((train_index, test_index))
    return splits


def score_metrics(actual, predicted, threshold):
    """Return regression metrics on the score and classification metrics on the High/Low level."""
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    actual_high = actual >= threshold
    predicted_high = predicted >= threshold
    metrics = {
        "r2": float(r2_score(actual, predicted)),
        "rmse": float(np.sqrt(np.mean((actual - predicted) ** 2))),
        "mae": float(mean_absolute_error(actual, predicted)),
        "accuracy": float(accuracy_score(actual_high, predicted_high)),
        "f1": float(f1_score(actual_high, predicted_high, zero_division=0)),
        "roc_auc": float(roc_auc_score(actual_high, predicted)) if 0 < actual_high.sum() < len(actual) else None,
    }
    return metrics


def evaluate(fitters, features, target, groups, persistence, splits, threshold, progress=None):
    """Fit every model on each split's train side; score out-of-fold predictions next to persistence.

    fitters maps a model name to fit(features, target, groups) -> fitted estimator, so a nested
    search can keep its own folds grouped by coin. Returns the metrics of the pooled out-of-fold
    predictions with the per-fold R², and the predictions themselves.
    """
    tested = np.concatenate([test for _, test in splits])
    predictions = {name: np.full(len(target), np.nan) for name in fitters}
    predictions["persistence"] = np.asarray(persistence, dtype=float).copy()
    fold_r2 = {name: [] for name in predictions}
    for fold, (train, test) in enumerate(splits, start=1):
        for name, fit in fitters.items():
            model = fit(features[train], target[train], groups[train])
            predictions[name][test] = model.predict(features[test])
            if progress:
                progress(f"fold {fold}/{len(splits)}: {name} fitted on {len(train)} pairs, tested on {len(test)}")
        for name in predictions:
            fold_r2[name].append(float(r2_score(target[test], predictions[name][test])))
    results = {}
    for name, predicted in predictions.items():
        metrics = score_metrics(target[tested], predicted[tested], threshold)
        metrics["r2_per_fold"] = fold_r2[name]
        metrics["r2_fold_std"] = float(np.std(fold_r2[name]))
        results[name] = metrics
    return {"folds": len(splits), "pairs_tested": int(len(tested)), "models": results}, predictions
