"""Honest validation: train on earlier dates, test on later ones and on other coins, next to baselines.

Time-ordered with a gap: a training row's target (the next snapshot's score) lies at least `gap_days`
calendar days before the first test date, so no lag or rolling window of a test row reaches into the
training targets' days unseen. Coins are also grouped: the test coins of a fold are not in its
training rows. Several origins (test windows) roll forward in time when asked.
"""

import zlib

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score, roc_auc_score

METRICS = ("r2", "mae", "spearman", "accuracy", "f1", "roc_auc")
# Figures where smaller is better; for the others larger is better.
LOWER_IS_BETTER = ("mae",)


def coin_fold(coin_ids, n_folds):
    """Return a stable fold number per coin_id (CRC32, so the same coin lands in the same fold on every run)."""
    coin_ids = np.asarray(coin_ids).astype(str)
    uniques, inverse = np.unique(coin_ids, return_inverse=True)
    folds = np.array([zlib.crc32(name.encode()) % n_folds for name in uniques])
    return folds[inverse]


def time_ordered_splits(dates, next_dates, coin_ids, origins, gap_days, test_days, n_coin_folds=2,
                        rotate=False):
    """Return (train, test, description) triples, one per origin and coin fold (one per origin if rotate).

    Test rows: dates in [origin, origin + test_days), coins in fold k. Train rows: targets (next_dates)
    at least gap_days before origin, coins not in fold k. With rotate, origin i tests coin fold i mod n.
    """
    dates = np.asarray(dates, dtype="datetime64[D]")
    next_dates = np.asarray(next_dates, dtype="datetime64[D]")
    folds = coin_fold(coin_ids, n_coin_folds)
    splits = []
    for number, origin in enumerate(origins):
        start = np.datetime64(origin, "D")
        end = start + np.timedelta64(test_days, "D")
        in_test = (dates >= start) & (dates < end)
        in_train = next_dates <= start - np.timedelta64(gap_days, "D")
        for fold in ([number % n_coin_folds] if rotate else range(n_coin_folds)):
            train = np.flatnonzero(in_train & (folds != fold))
            test = np.flatnonzero(in_test & (folds == fold))
            if len(train) and len(test):
                splits.append((train, test, {"origin": str(start), "test_days": int(test_days),
                                             "gap_days": int(gap_days), "coin_fold": int(fold),
                                             "train_rows": int(len(train)), "test_rows": int(len(test))}))
    return splits


def spearman_per_date(actual, predicted, dates):
    """Return the mean over dates of the Spearman correlation of predicted and actual scores within each date."""
    frame = pd.DataFrame({"a": actual, "p": predicted, "d": np.asarray(dates)})
    ranked = frame.groupby("d")[["a", "p"]].rank()
    ranked["d"] = frame["d"]
    per_date = ranked.groupby("d").apply(lambda g: g["a"].corr(g["p"]) if len(g) > 2 else np.nan,
                                         include_groups=False)
    return float(per_date.mean())


def score_metrics(actual, predicted, dates, threshold):
    """Return R², MAE, per-date Spearman on the score and accuracy, F1, ROC-AUC on the High/Low level."""
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    actual_high = actual >= threshold
    predicted_high = predicted >= threshold
    both_levels = 0 < actual_high.sum() < len(actual)
    return {
        "r2": float(r2_score(actual, predicted)),
        "mae": float(mean_absolute_error(actual, predicted)),
        "rmse": float(np.sqrt(np.mean((actual - predicted) ** 2))),
        "spearman": spearman_per_date(actual, predicted, dates),
        "accuracy": float(accuracy_score(actual_high, predicted_high)),
        "f1": float(f1_score(actual_high, predicted_high, zero_division=0)),
        "roc_auc": float(roc_auc_score(actual_high, predicted)) if both_levels else None,
    }


def beats(model, baseline):
    """Return the metric names on which model is not strictly better than baseline."""
    worse = []
    for name in METRICS:
        a, b = model.get(name), baseline.get(name)
        if a is None or b is None:
            continue
        if (a >= b) if name in LOWER_IS_BETTER else (a <= b):
            worse.append(name)
    return worse


def evaluate(fitters, baselines, features, target, dates, splits, threshold, horizons, masked=None, progress=None):
    """Fit every model on each split's train rows; score the pooled test rows next to the baselines, per horizon.

    target: (n, horizons) outcomes. fitters maps a name to fit(train_index) -> fitted estimator whose
    predict(features) gives one column per horizon (1-D for one horizon); baselines maps a name to a column of
    precomputed predictions used at every horizon (persistence, the 7- and 30-day means). With masked (the
    features with history missing), each model is also scored on the masked test rows. Returns
    ({horizon: results}, {horizon: masked_results} or None, {horizon: predictions of the test rows}).
    """
    target = np.asarray(target, dtype=float).reshape(len(target), -1)
    tested = np.concatenate([test for _, test, _ in splits])
    shape = (len(target), len(horizons))
    predictions = {name: np.full(shape, np.nan) for name in fitters}
    masked_predictions = {name: np.full(shape, np.nan) for name in fitters}
    for number, (train, test, _) in enumerate(splits, start=1):
        for name, fit in fitters.items():
            model = fit(train)
            predictions[name][test] = np.asarray(model.predict(features[test])).reshape(len(test), -1)
            if masked is not None:
                masked_predictions[name][test] = np.asarray(model.predict(masked[test])).reshape(len(test), -1)
            if progress:
                progress(f"split {number}/{len(splits)}: {name} fitted, tested on {len(test)} rows")
    baseline_columns = {name: np.asarray(column, dtype=float) for name, column in baselines.items()}

    def block(columns, column):
        return {"splits": [info for _, _, info in splits], "folds": len(splits), "pairs_tested": int(len(tested)),
                "models": {name: score_metrics(target[tested, column], predicted[tested], dates[tested], threshold)
                           for name, predicted in columns.items()}}

    results, masked_results, tested_predictions = {}, {} if masked is not None else None, {}
    for column, horizon in enumerate(horizons):
        columns = {**{name: p[:, column] for name, p in predictions.items()}, **baseline_columns}
        results[horizon] = block(columns, column)
        if masked is not None:
            masked_columns = {name: p[:, column] for name, p in masked_predictions.items()}
            if "persistence" in baseline_columns:
                masked_columns["persistence"] = baseline_columns["persistence"]
            masked_results[horizon] = block(masked_columns, column)
        tested_predictions[horizon] = {"index": tested, **{name: p[tested] for name, p in columns.items()}}
    return results, masked_results, tested_predictions
