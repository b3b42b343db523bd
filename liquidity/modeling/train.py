"""Train the tuned RandomForest on snapshot pairs and write the artifacts and model card."""

import logging
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from liquidity.artifacts import ArtifactPaths, save_artifacts, sha256_file
from liquidity.dataset import load_snapshots, make_pairs
from liquidity.features import FEATURE_DESCRIPTIONS, FEATURE_NAMES, INPUT_COLUMNS, features_from_frame
from liquidity.files import write_atomically
from liquidity.modeling import evaluation

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5
DEFAULT_SEED = 42
CV_PREDICTIONS_FILE = "cv_predictions.csv"

PARAM_GRID = {
    "forest__n_estimators": [100, 300],
    "forest__max_depth": [None, 12],
    "forest__min_samples_split": [2, 10],
    "forest__min_samples_leaf": [1, 5, 10, 20],
}
# A tiny grid for tests and quick looks; the committed model uses PARAM_GRID.
QUICK_GRID = {
    "forest__n_estimators": [20],
    "forest__max_depth": [None, 6],
    "forest__min_samples_split": [2],
    "forest__min_samples_leaf": [1, 3],
}

TARGET_DEFINITION = (
    "liquidity ratio = 24h volume / market cap; liquidity score = mid-rank percentile of that ratio among "
    "all coins of the same snapshot date, (rank - 0.5) / n with ties averaged, in (0, 1), 0.5 = the median "
    "coin. The model forecasts the coin's liquidity score in the next available snapshot (pairs joined on "
    "coin + symbol) from its current volume, market cap, 1h change and price.")

INPUT_UNITS = {"volume": "USD", "mkt_cap": "USD", "1h": "fraction (0.022 = +2.2 %)", "price": "USD"}
INPUT_DESCRIPTIONS = {
    "volume": "traded volume over the last 24 hours",
    "mkt_cap": "market capitalisation",
    "1h": "price change over the last hour",
    "price": "price",
}


def forest_pipeline(seed):
    """Return the unfitted scaler + forest pipeline; the scaler is fit inside each fold."""
    return Pipeline([
        ("scaler", StandardScaler()),
        ("forest", RandomForestRegressor(random_state=seed, n_jobs=1)),
    ])


def grid_search(grid, seed, n_folds, n_jobs, verbose=0):
    """Return a GridSearchCV over grid, scored by R², whose folds are grouped by coin."""
    return GridSearchCV(forest_pipeline(seed), grid, scoring="r2", cv=GroupKFold(n_splits=n_folds),
                        n_jobs=n_jobs, verbose=verbose, error_score="raise")


def _fitters(grid, seed, n_folds, n_jobs):
    def fit_forest(features, target, groups):
        folds = min(n_folds, len(np.unique(groups)))
        return grid_search(grid, seed, folds, n_jobs).fit(features, target, groups=groups)

    def fit_linear(features, target, groups):
        return Pipeline([("scaler", StandardScaler()), ("linear", LinearRegression())]).fit(features, target)

    return {"random_forest": fit_forest, "linear_regression": fit_linear}


def input_ranges(pairs):
    """Return the min, max and 1st/99th percentiles of each raw input over the training pairs."""
    ranges = {}
    for column in INPUT_COLUMNS:
        values = pairs[column].to_numpy(dtype=float)
        ranges[column] = {
            "unit": INPUT_UNITS[column],
            "description": INPUT_DESCRIPTIONS[column],
            "min": float(values.min()), "max": float(values.max()),
            "p01": float(np.quantile(values, 0.01)), "p99": float(np.quantile(values, 0.99)),
        }
    return ranges


def train(data, out_dir, *, grid=None, n_folds=5, seed=DEFAULT_SEED, threshold=DEFAULT_THRESHOLD,
          n_jobs=-1, verbose=1, progress=print):
    """Load snapshots, validate honestly, fit the final grid search on every pair, save the artifacts.

    Returns the model card (also written as model_card.json in out_dir).
    """
    grid = PARAM_GRID if grid is None else grid
    started = time.perf_counter()
    snapshots = load_snapshots(data)
    pairs = make_pairs(snapshots.frame)
    features = features_from_frame(pairs)
    target = pairs["next_liquidity_score"].to_numpy()
    persistence = pairs["liquidity_score"].to_numpy()
    groups = evaluation.coin_groups(pairs)
    progress(f"loaded {len(snapshots.frame)} rows from {len(snapshots.files)} file(s), "
             f"dates {', '.join(snapshots.dates)}; {len(pairs)} next-snapshot pairs, "
             f"{len(np.unique(groups))} coins")

    fitters = _fitters(grid, seed, n_folds, n_jobs)
    progress(f"coin-grouped {n_folds}-fold CV, grid search nested in each fold "
             f"({np.prod([len(v) for v in grid.values()])} candidates)")
    grouped, oof = evaluation.evaluate(fitters, features, target, groups, persistence,
                                       evaluation.grouped_splits(pairs, n_folds), threshold, progress)
    time_splits = evaluation.time_ordered_splits(pairs, n_folds)
    time_ordered = None
    if time_splits:
        progress("time-ordered evaluation: train on earlier pairs, test on the latest date's pairs")
        time_ordered, _ = evaluation.evaluate(fitters, features, target, groups, persistence,
                                              time_splits, threshold, progress)
        time_ordered["test_date"] = sorted(pairs["date"].unique())[-1]

    progress("final grid search on every pair")
    search = grid_search(grid, seed, min(n_folds, len(np.unique(groups))), n_jobs, verbose)
    search.fit(features, target, groups=groups)
    scaler = search.best_estimator_.named_steps["scaler"]
    forest = search.best_estimator_.named_steps["forest"]

    latest = snapshots.dates[-1]
    reference_ratios = np.sort(snapshots.frame.loc[snapshots.frame["date"] == latest, "liquidity_ratio"].to_numpy())
    probe_inputs = pairs[list(INPUT_COLUMNS)].quantile([0.05, 0.25, 0.5, 0.75, 0.95]).reset_index(drop=True)
    probe_scores = forest.predict(scaler.transform(features_from_frame(probe_inputs)))
    date_pairs = (pairs.groupby(["date", "next_date", "gap_days"]).size().rename("pairs").reset_index()
                  .to_dict(orient="records"))

    card = {
        "name": "next-snapshot liquidity score forecaster",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": TARGET_DEFINITION,
        "threshold": threshold,
        "levels": {"High": f"score >= {threshold}", "Low": f"score < {threshold}"},
        "data": {
            "files": [{"name": Path(f).name, "sha256": sha256_file(f)} for f in snapshots.files],
            "dates": snapshots.dates,
            "rows_read": snapshots.rows_read,
            "rows_kept": int(len(snapshots.frame)),
            "rows_dropped": dict(snapshots.dropped),
            "duplicates_resolved": snapshots.duplicates_resolved,
            "pairs": int(len(pairs)),
            "coins": int(len(np.unique(groups))),
            "date_pairs": [{k: (int(v) if k in ("gap_days", "pairs") else v) for k, v in row.items()}
                           for row in date_pairs],
        },
        "inputs": input_ranges(pairs),
        "features": [{"name": name, "description": FEATURE_DESCRIPTIONS[name]} for name in FEATURE_NAMES],
        "hyperparameters": {k.removeprefix("forest__"): v for k, v in search.best_params_.items()},
        "grid": {k.removeprefix("forest__"): v for k, v in grid.items()},
        "selection_cv_r2": float(search.best_score_),
        "seed": seed,
        "validation": {
            "note": ("Out-of-fold predictions pooled over coin-grouped folds (no coin in both train and test); "
                     "the forest's grid search is re-run inside each training fold. Persistence predicts "
                     "next score = today's score."),
            "grouped_cv": grouped,
            "time_ordered": time_ordered,
        },
        "feature_importances": dict(zip(FEATURE_NAMES, map(float, forest.feature_importances_))),
        "reference_snapshot": {"date": latest, "liquidity_ratios": [float(r) for r in reference_ratios]},
        "probe": {"inputs": probe_inputs.to_dict(orient="list"), "scores": [float(s) for s in probe_scores]},
        "versions": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
        "training_seconds": round(time.perf_counter() - started, 1),
    }
    held_out = pairs[["coin", "symbol", "date", "next_date", "liquidity_score", "next_liquidity_score"]].assign(
        **{f"predicted_{name}": values for name, values in oof.items()})
    write_atomically(Path(out_dir) / CV_PREDICTIONS_FILE, held_out.to_csv(index=False).encode())
    card = save_artifacts(ArtifactPaths.in_folder(out_dir), forest, scaler, card)
    progress(format_metrics_table(card))
    return card


def format_metrics_table(card):
    """Render the validation metrics of the forest and its baselines as a text table."""
    lines = []
    for title, block in (("coin-grouped CV", card["validation"]["grouped_cv"]),
                         ("time-ordered", card["validation"]["time_ordered"])):
        if not block:
            continue
        lines.append(f"{title}: {block['folds']} folds, {block['pairs_tested']} pairs tested")
        lines.append(f"{'model':<18}{'R2':>8}{'RMSE':>8}{'MAE':>8}{'acc':>8}{'F1':>8}{'AUC':>8}")
        for name, m in block["models"].items():
            auc = f"{m['roc_auc']:.3f}" if m["roc_auc"] is not None else "n/a"
            lines.append(f"{name:<18}{m['r2']:>8.3f}{m['rmse']:>8.3f}{m['mae']:>8.3f}"
                         f"{m['accuracy']:>8.3f}{m['f1']:>8.3f}{auc:>8}")
    lines.append(f"hyper-parameters: {card['hyperparameters']}  (selection CV R2 {card['selection_cv_r2']:.3f})")
    lines.append(f"model version {card['model_version']}")
    return "\n".join(lines)
