"""The model card: built from a training run, checked against its artifacts and against a retrained run."""

import math
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn

from liquidity import schema
from liquidity.artifacts import sha256_file
from liquidity.features import FEATURE_DESCRIPTIONS, FEATURE_NAMES, HISTORY_FEATURES, INPUT_COLUMNS

NAME = "liquidity score forecaster, 1, 7 and 30 days ahead"
TARGET_DEFINITION = (
    "liquidity ratio = 24h volume / market cap; liquidity score = mid-rank percentile of that ratio among "
    "all coins of the same snapshot date, (rank - 0.5) / n with ties averaged, in (0, 1), 0.5 = the median "
    "coin. The model forecasts the coin's liquidity score in the next available snapshot (1 calendar day "
    "ahead in daily data) and exactly 7 and 30 calendar days ahead (rows joined on coin_id) from its four "
    "inputs, its score today and its own history (lags and rolling means of its "
    "score, price and volume changes; missing when the coin has no row on that calendar day).")

# The four inputs' units and meanings, as liquidity.schema states them for the form, the API and the report.
INPUT_UNITS = schema.units()
INPUT_DESCRIPTIONS = schema.descriptions()
# Card sections a loaded model relies on, with the type each must have.
REQUIRED_SECTIONS = {"model_version": str, "threshold": (int, float), "inputs": dict, "features": list,
                     "feature_importances": dict, "validation": dict, "data": dict, "hyperparameters": dict,
                     "reference_snapshot": dict, "versions": dict, "artifacts": dict, "probe": dict,
                     "horizons": list, "conformal": dict}
# Largest difference in a figure between the committed card and a retrained run that still counts as equal.
FIGURE_TOLERANCE = 1e-9


def input_ranges(rows):
    """Return the min, max and 1st/99th percentiles of each raw input over the training rows (NaN ignored)."""
    ranges = {}
    for column in INPUT_COLUMNS:
        values = rows[column].to_numpy(dtype=float)
        values = values[~np.isnan(values)]
        present = len(values) > 0
        ranges[column] = {
            "unit": INPUT_UNITS[column],
            "description": INPUT_DESCRIPTIONS[column],
            "min": float(values.min()) if present else None, "max": float(values.max()) if present else None,
            "p01": float(np.quantile(values, 0.01)) if present else None,
            "p99": float(np.quantile(values, 0.99)) if present else None,
            "missing_share": float(1 - len(values) / max(len(rows), 1)),
        }
    return ranges


def feature_entries(features):
    """Return one entry per feature: its name, description and the share of training rows where it is missing."""
    missing = np.isnan(features).mean(axis=0) if len(features) else np.zeros(len(FEATURE_NAMES))
    return [{"name": name, "description": FEATURE_DESCRIPTIONS[name], "history": name in HISTORY_FEATURES,
             "missing_share": round(float(share), 6)} for name, share in zip(FEATURE_NAMES, missing)]


def jsonable_rows(matrix):
    """Return a float matrix as nested lists with NaN as None (JSON has no NaN)."""
    return [[None if math.isnan(value) else float(value) for value in row] for row in np.asarray(matrix)]


def matrix_from_json(rows):
    """Return the float matrix of jsonable_rows' output, None back to NaN."""
    return np.array([[np.nan if value is None else value for value in row] for row in rows], dtype=np.float64)


def build_card(*, snapshots, pairs, training_rows, features, config, grid, search, forest, validation,
               verification, seed, threshold, started, horizons, conformal):
    """Return the model card of a training run (artifacts' hashes are added when they are saved)."""
    latest = snapshots.dates[-1]
    frame = snapshots.frame
    reference = np.sort(frame.loc[frame["date"] == latest, "liquidity_ratio"].to_numpy())
    probe = probe_rows(features)
    return {
        "name": NAME,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": TARGET_DEFINITION,
        "horizon": "the next snapshot date of the same coin_id (1 calendar day in the daily history)",
        "horizons": [int(h) for h in horizons],
        "horizon_definitions": {str(h): "the next snapshot date of the same coin_id (1 calendar day in the daily "
                                        "history)" if h == 1 else f"exactly {h} calendar days later, same coin_id"
                                for h in horizons},
        "conformal": conformal,
        "threshold": threshold,
        "levels": {"High": f"score >= {threshold}", "Low": f"score < {threshold}"},
        "data": {
            "files": [{"name": Path(f).name, "sha256": sha256_file(f)} for f in snapshots.files],
            "dates": [snapshots.dates[0], snapshots.dates[-1]],
            "snapshot_dates": len(snapshots.dates),
            "training_dates": [str(training_rows["date"].min()), str(training_rows["date"].max())],
            "rows_read": snapshots.rows_read,
            "rows_kept": int(len(frame)),
            "rows_dropped": dict(snapshots.dropped),
            "duplicates_resolved": snapshots.duplicates_resolved,
            "pairs": int(len(pairs)),
            "training_pairs": int(len(training_rows)),
            "coins": int(pairs["coin_id"].nunique()),
            "gap_days": {str(k): int(v) for k, v in pairs["gap_days"].value_counts().sort_index().items()},
        },
        "inputs": input_ranges(training_rows),
        "features": feature_entries(features),
        "training": config,
        "grid": {k.removeprefix("forest__"): v for k, v in grid.items()},
        "hyperparameters": {k.removeprefix("forest__"): v for k, v in search.best_params_.items()},
        "selection_cv_r2": float(search.best_score_),
        "selection_folds": search.folds_described,
        "seed": seed,
        "validation": validation,
        "verification": verification,
        "feature_importances": dict(zip(FEATURE_NAMES, map(float, forest.feature_importances_))),
        "reference_snapshot": {"date": latest, "liquidity_ratios": [float(r) for r in reference]},
        "probe": {"features": jsonable_rows(probe),
                  "scores": np.asarray(search.best_estimator_.predict(probe), dtype=np.float64).tolist()},
        "versions": {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
                     "numpy": np.__version__, "pandas": pd.__version__},
        "training_seconds": round(time.perf_counter() - started, 1),
    }


def probe_rows(features, count=12):
    """Return a few training feature rows spread over the set, plus each with its history masked."""
    if not len(features):
        return np.empty((0, len(FEATURE_NAMES)))
    picks = np.unique(np.linspace(0, len(features) - 1, min(count, len(features))).astype(int))
    rows = features[picks]
    masked = rows.copy()
    masked[:, [FEATURE_NAMES.index(name) for name in HISTORY_FEATURES]] = np.nan
    return np.vstack([rows, masked])


def check_card(card):
    """Return the names of sections a loaded model needs that the card lacks or holds with the wrong type."""
    wrong = [name for name, kind in REQUIRED_SECTIONS.items() if not isinstance(card.get(name), kind)]
    if isinstance(card.get("features"), list) and [f.get("name") for f in card["features"]] != list(FEATURE_NAMES):
        wrong.append("features (not this code's feature list)")
    # An input the training data never held (the daily history has no 1h) has no range: None, not a number.
    wrong += [f"inputs.{name}" for name in INPUT_COLUMNS
              if not isinstance((card.get("inputs") or {}).get(name), dict)
              or not all(isinstance(card["inputs"][name].get(k), (int, float, type(None))) for k in ("min", "max"))]
    wrong += conformal_problems(card)
    ratios = (card.get("reference_snapshot") or {}).get("liquidity_ratios")
    if not (isinstance(ratios, list) and ratios and all(isinstance(r, (int, float)) for r in ratios)):
        wrong.append("reference_snapshot.liquidity_ratios")
    return wrong


def check_model(model):
    """Raise ValueError naming what the verified card lacks that the pages and the forecast read.

    Structure only, no scoring: the web app's create_app runs in gunicorn's master before it forks, and the fast
    path must not start there (see LiquidityModel._scorer).
    """
    wrong = check_card(model.card)
    if wrong:
        raise ValueError(f"the model card lacks or has malformed section(s): {', '.join(wrong)}")


def conformal_problems(card):
    """Return what the serving side needs from the conformal section that the card lacks: a table per horizon
    with one half-width per bin of the forecast score at each level."""
    horizons, section = card.get("horizons"), card.get("conformal")
    if not isinstance(horizons, list) or not horizons or not all(isinstance(h, int) for h in horizons):
        return ["horizons (a list of whole days)"]
    if not isinstance(section, dict) or not isinstance(section.get("tables"), dict):
        return ["conformal.tables"]
    levels = section.get("levels")
    if not isinstance(levels, list) or not levels:
        return ["conformal.levels"]
    wrong = []
    for horizon in horizons:
        table = section["tables"].get(str(horizon))
        edges = table.get("edges") if isinstance(table, dict) else None
        widths = table.get("half_widths") if isinstance(table, dict) else None
        if not (isinstance(edges, list) and all(isinstance(e, (int, float)) for e in edges)
                and edges == sorted(edges) and isinstance(widths, dict)
                and all(isinstance(widths.get(str(level)), list) and len(widths[str(level)]) == len(edges) + 1
                        and all(isinstance(w, (int, float)) and 0 <= w <= 1 for w in widths[str(level)])
                        for level in levels)):
            wrong.append(f"conformal.tables.{horizon}")
    return wrong


def probe_differences(card, pipeline_predict):
    """Return the probe rows where pipeline_predict(features) differs from the scores recorded in the card."""
    scores = np.asarray(pipeline_predict(matrix_from_json(card["probe"]["features"])))
    return [f"probe row {i}: reloaded model predicts {got!r} but the card says {want!r}"
            for i, (got, want) in enumerate(zip(scores.tolist(), card["probe"]["scores"])) if got != want]


def _same(value, other):
    if isinstance(value, dict):
        return (isinstance(other, dict) and value.keys() == other.keys()
                and all(_same(value[k], other[k]) for k in value))
    if isinstance(value, list):
        return isinstance(other, list) and len(value) == len(other) and all(map(_same, value, other))
    if isinstance(value, float) and isinstance(other, (int, float)):
        return math.isclose(value, other, rel_tol=0, abs_tol=FIGURE_TOLERANCE)
    return value == other


def compare_figures(committed, retrained, path=""):
    """Return a line per figure (or setting) of committed that retrained lacks or holds differently."""
    if isinstance(committed, dict):
        if not isinstance(retrained, dict):
            return [f"{path}: committed {committed!r} != retrained {retrained!r}"]
        return [line for key in committed
                for line in compare_figures(committed[key], retrained.get(key), f"{path}.{key}" if path else key)]
    if not _same(committed, retrained):
        return [f"{path}: committed {committed!r} != retrained {retrained!r}"]
    return []
