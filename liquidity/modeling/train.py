"""Train the tuned RandomForest on snapshot history and write the artifacts and model card."""

import gzip
import logging
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from liquidity.artifacts import PREDICTIONS_FILE, ArtifactPaths, save_artifacts
from liquidity.dataset import DatasetError, add_horizon_targets, load_snapshots, make_pairs
from liquidity.features import FEATURE_NAMES, HISTORY_FEATURES, LONGEST_LAG, with_features
from liquidity.files import write_atomically
from liquidity.modeling import card as model_card
from liquidity.modeling import conformal, evaluation

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5
DEFAULT_SEED = 42
# Calendar days ahead the model forecasts; 1 is the next snapshot (the next day in daily data).
HORIZONS = (1, 7, 30)

# Small on purpose: each candidate is fit on max_rows sampled rows per fold, and the whole run (grid, validation,
# final fit, verification run) must finish on the full daily history in under 15 minutes on 2 cores.
PARAM_GRID = {
    "forest__n_estimators": [60],
    "forest__max_depth": [12],
    "forest__min_samples_leaf": [40, 100],
    "forest__max_features": [0.5, 1.0],
}
# A tiny grid for tests and quick looks; the committed model uses PARAM_GRID.
QUICK_GRID = {
    "forest__n_estimators": [20],
    "forest__max_depth": [None, 6],
    "forest__min_samples_leaf": [1, 3],
}
HISTORY_COLUMNS = [FEATURE_NAMES.index(name) for name in HISTORY_FEATURES]
SCORE_TODAY = FEATURE_NAMES.index("score_today")
SCORE_MEAN7 = FEATURE_NAMES.index("score_mean7")
SCORE_MEAN30 = FEATURE_NAMES.index("score_mean30")


@dataclass(frozen=True)
class TrainingConfig:
    """What rows a run trains on and how it is validated; recorded in the model card."""

    since: str | None = None  # first pair date trained on (earlier rows still feed the history features)
    until: str | None = None  # last pair date trained on
    max_rows: int = 60_000  # rows sampled (seeded) for each fit, before the masked copies
    masked_share: float = 0.5  # share of sampled rows added again with history missing: the four-input path
    test_days: int = 91  # length of each time-ordered test window
    # Test windows rolling forward, the last ending at the last pair date: a year of out-of-sample forecasts, so
    # the conformal intervals can be calibrated on 90 days of them and their coverage measured on the months after.
    origins: int = 4
    gap_days: int = LONGEST_LAG + 1  # targets of training rows end this many days before a test window
    coin_folds: int = 2  # coins split in this many groups; a test window's coins are never trained on


# A smaller run that `verify` can retrain in CI: the committed hyper-parameters, no grid, a fixed date range.
VERIFY_DAYS = 400
VERIFY_CONFIG = {"max_rows": 20_000, "origins": 1, "test_days": 61}


def fit_target(target):
    """Return the target as the forest fits it: one column per horizon, 1-D for a single horizon."""
    return target[:, 0] if target.ndim == 2 and target.shape[1] == 1 else target


def forest_pipeline(seed, **params):
    """Return the unfitted scaler + forest pipeline; the scaler is fit inside each fold."""
    return Pipeline([
        ("scaler", StandardScaler()),
        ("forest", RandomForestRegressor(random_state=seed, n_jobs=1, **params)),
    ])


def linear_pipeline():
    """Return the linear-regression baseline: NaN imputed by the median plus a missing indicator."""
    return make_pipeline(SimpleImputer(add_indicator=True), StandardScaler(), LinearRegression())


def training_sample(index, features, target, config, seed):
    """Return (features, target, index) of up to max_rows rows of index, plus masked_share of them with history NaN."""
    rng = np.random.default_rng(seed)
    if len(index) > config.max_rows:
        index = np.sort(rng.choice(index, config.max_rows, replace=False))
    masked = index[rng.random(len(index)) < config.masked_share]
    rows = features[np.concatenate([index, masked])].copy()
    rows[len(index):, HISTORY_COLUMNS] = np.nan
    return rows, target[np.concatenate([index, masked])], np.concatenate([index, masked])


def validation_plan(pair_dates, config):
    """Return (origins, test_days, gap_days): the last windows of the pair dates, or one day with no gap when
    the history is too short for them (e.g. a handful of snapshots)."""
    dates = np.asarray(sorted(set(pair_dates)), dtype="datetime64[D]")
    span = int((dates[-1] - dates[0]).astype(int))
    needed = config.test_days * config.origins + config.gap_days + config.test_days
    if span < needed:
        return [str(dates[-1])], 1, 0
    last = dates[-1] + np.timedelta64(1, "D")
    origins = [str(last - np.timedelta64(config.test_days * (config.origins - i), "D")) for i in range(config.origins)]
    return origins, config.test_days, config.gap_days


def selection_folds(dates, next_dates, coins, before, n_folds, test_days, gap_days, coin_folds):
    """Return GridSearchCV folds over rows whose targets precede `before`: forward-chaining date blocks, coins
    grouped."""
    if gap_days == 0:  # too short a history for blocks: one fold on the last date
        return time_ordered_splits_or_fail(dates, next_dates, coins, [str(np.max(dates))], 0, 1, coin_folds)
    # The folds end after the last selectable row's date (its targets end gap_days before `before`).
    last = np.max(np.asarray(dates, dtype="datetime64[D]")) + np.timedelta64(1, "D")
    origins = [str(last - np.timedelta64(test_days * (n_folds - i), "D")) for i in range(n_folds)]
    return time_ordered_splits_or_fail(dates, next_dates, coins, origins, gap_days, test_days, coin_folds)


def time_ordered_splits_or_fail(dates, next_dates, coins, origins, gap_days, test_days, coin_folds):
    splits = evaluation.time_ordered_splits(dates, next_dates, coins, origins, gap_days, test_days,
                                            coin_folds, rotate=True)
    if not splits:
        raise DatasetError("too few snapshot dates or coins for a time-ordered, coin-grouped split")
    return splits


def trainable_horizons(pairs, horizons=HORIZONS):
    """Return the horizons some pair has every target of: the longest ones drop out of a history too short for them."""
    chosen = []
    for horizon in sorted(horizons):
        complete = pairs[[f"target_{h}d" for h in (*chosen, horizon)]].notna().all(axis=1)
        if not complete.any():
            break
        chosen.append(horizon)
    return chosen


class Run:
    """The rows of one training run: features, targets per horizon, dates and coins of every pair.

    Rows are the pairs that have the targets of every trained horizon (the multi-output forest needs them all):
    the last 30 days of a history are features of others' targets but not rows themselves.
    """

    def __init__(self, data, config, progress):
        self.snapshots = load_snapshots(data)
        frame = self.snapshots.frame
        pairs = add_horizon_targets(make_pairs(with_features(frame)), frame, HORIZONS)
        self.pairs = pairs
        self.horizons = trainable_horizons(pairs)
        target_columns = [f"target_{h}d" for h in self.horizons]
        keep = pairs[target_columns].notna().all(axis=1).to_numpy().copy()
        if config.since:
            keep &= pairs["date"].to_numpy() >= config.since
        if config.until:
            keep &= pairs["date"].to_numpy() <= config.until
        self.rows = pairs[keep].reset_index(drop=True)
        if self.rows.empty:
            raise DatasetError(f"no next-snapshot pairs between {config.since} and {config.until}")
        self.features = self.rows[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
        self.target = self.rows[target_columns].to_numpy(dtype=np.float64)
        self.target_dates = self.rows[[f"target_date_{h}d" for h in self.horizons]].to_numpy()
        self.dates = self.rows["date"].to_numpy()
        # The gap of the time-ordered splits counts from the last target a row was trained on.
        self.next_dates = self.target_dates[:, -1]
        self.coins = self.rows["coin_id"].to_numpy()
        self.last_date = self.snapshots.dates[-1] if not config.until else min(
            self.snapshots.dates[-1], str(np.datetime64(config.until, "D") + np.timedelta64(max(self.horizons), "D")))
        progress(f"loaded {len(frame)} rows from {len(self.snapshots.files)} file(s), dates "
                 f"{self.snapshots.dates[0]}..{self.snapshots.dates[-1]}; {len(pairs)} next-snapshot pairs, "
                 f"{len(self.rows)} with targets at {self.horizons} days trained on "
                 f"({self.dates.min()}..{self.dates.max()}), {self.rows['coin_id'].nunique()} coins")

    def masked(self):
        masked = self.features.copy()
        masked[:, HISTORY_COLUMNS] = np.nan
        return masked


def validate(run, config, params, seed, threshold, progress):
    """Return (figures, test predictions, first origin, gap): the forest with params and the baselines, time-ordered,
    with the four-input figures under figures["four_input"]."""
    origins, test_days, gap_days = validation_plan(run.dates, config)
    splits = evaluation.time_ordered_splits(run.dates, run.next_dates, run.coins, origins, gap_days, test_days,
                                            config.coin_folds)
    if not splits:
        raise DatasetError("too few snapshot dates or coins for a time-ordered, coin-grouped split")

    def fit_forest(train):
        rows, target, _ = training_sample(train, run.features, run.target, config, seed)
        return forest_pipeline(seed, **params).fit(rows, fit_target(target))

    def fit_linear(train):
        rows, target, _ = training_sample(train, run.features, run.target, config, seed)
        return linear_pipeline().fit(rows, fit_target(target))

    baselines = {"persistence": run.features[:, SCORE_TODAY], "mean_7_days": run.features[:, SCORE_MEAN7],
                 "mean_30_days": run.features[:, SCORE_MEAN30]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the all-missing h1 of the daily history
        warnings.simplefilter("ignore", UserWarning)
        history, four_input, predictions = evaluation.evaluate(
            {"random_forest": fit_forest, "linear_regression": fit_linear}, baselines, run.features, run.target,
            run.dates, splits, threshold, run.horizons, masked=run.masked(), progress=progress)
    # The top level keeps the 1-day (next-snapshot) figures where readers of one horizon look for them.
    figures = {**history[run.horizons[0]], "four_input": four_input[run.horizons[0]],
               "horizons": {str(h): {"models": history[h]["models"], "four_input": {"models": four_input[h]["models"]}}
                            for h in run.horizons}}
    return figures, predictions, origins[0], gap_days


def select(run, config, grid, seed, n_folds, n_jobs, before, gap_days, verbose, progress):
    """Grid-search the forest on the rows whose targets precede the first test window; return the fitted search."""
    test_days = max(1, config.test_days)
    selectable = np.flatnonzero(run.next_dates.astype("datetime64[D]")
                                <= np.datetime64(before, "D") - np.timedelta64(gap_days, "D"))
    if not len(selectable) or gap_days == 0:
        selectable = np.arange(len(run.target))
    rows, target, index = training_sample(selectable, run.features, run.target, config, seed)
    folds = selection_folds(run.dates[index], run.next_dates[index], run.coins[index], before,
                            max(1, min(n_folds, 3)), test_days, gap_days, config.coin_folds)
    progress(f"grid search: {int(np.prod([len(v) for v in grid.values()]))} candidates x {len(folds)} "
             f"time-ordered, coin-grouped folds on {len(rows)} rows")
    # Scored by R² averaged over the horizons: one forest serves them all.
    search = GridSearchCV(forest_pipeline(seed), grid, scoring="r2", cv=[(tr, te) for tr, te, _ in folds],
                          n_jobs=n_jobs, verbose=verbose, error_score="raise", refit=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        search.fit(rows, fit_target(target))
    search.folds_described = [info for _, _, info in folds]
    return search


def fit_final(run, config, params, seed):
    """Fit the forest with params on a sample of every training row (plus its masked copies)."""
    rows, target, _ = training_sample(np.arange(len(run.target)), run.features, run.target, config, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return forest_pipeline(seed, **params).fit(rows, fit_target(target)), rows


def verification_config(run, config):
    """Return the smaller configuration `verify` retrains: the last VERIFY_DAYS of the trained range."""
    last = np.datetime64(str(run.dates.max()), "D")
    since = max(str(last - np.timedelta64(VERIFY_DAYS, "D")), str(run.dates.min()))
    return replace(config, since=since, until=str(last), **VERIFY_CONFIG)


def verification_figures(data, config, params, seed, threshold, progress=lambda _: None):
    """Train and validate the forest with fixed params under config; return the figures verify compares."""
    run = Run(data, config, progress)
    figures, predictions, _, _ = validate(run, config, params, seed, threshold, progress)
    shortest = held_out_forecasts(run, predictions, run.horizons[0])
    tables = {str(h): conformal.calibration_table(held_out_forecasts(run, predictions, h), run.last_date,
                                                  shortest=shortest if h != run.horizons[0] else None)
              for h in run.horizons}
    return {"config": asdict(config), "hyperparameters": params, "validation": figures, "conformal_tables": tables}


def held_out_forecasts(run, predictions, horizon):
    """Return the forest's time-ordered test forecasts at horizon: date, coin_id, target_date, predicted, actual."""
    column = run.horizons.index(horizon)
    tested = predictions[horizon]["index"]
    return pd.DataFrame({"date": run.dates[tested], "coin_id": run.coins[tested],
                         "target_date": run.target_dates[tested, column],
                         "predicted": predictions[horizon]["random_forest"], "actual": run.target[tested, column]})


def conformal_section(run, predictions, window_days=conformal.WINDOW_DAYS):
    """Return the card's conformal section: each horizon's table on the data's last date and the coverage that
    daily recalibration achieved on the held-out forecasts (each date calibrated on outcomes known by then)."""
    forecasts = {horizon: held_out_forecasts(run, predictions, horizon) for horizon in run.horizons}
    shortest = forecasts[run.horizons[0]]
    tables = {str(horizon): conformal.calibration_table(forecasts[horizon], run.last_date, window_days=window_days,
                                                        shortest=shortest if horizon != run.horizons[0] else None)
              for horizon in run.horizons}
    coverage = {str(horizon): conformal.coverage_report(rolled)
                for horizon, rolled in conformal.held_out_intervals(forecasts, window_days).items()}
    section = {"method": "split conformal on |actual - forecast|, per quintile bin of the forecast score, clipped "
                         "to [0, 1]; calibrated on the forecasts of the last window_days forecast dates whose "
                         "outcome is known on the calibration date; the longer horizons' half-widths times the "
                         "spread factor: (mean |actual - forecast| of the shortest horizon's last fresh_days "
                         "forecast dates known then / the same since the window's first forecast date) ** power",
               "levels": list(conformal.LEVELS), "window_days": window_days, "bins": conformal.BINS,
               "spread": {"horizon": run.horizons[0], "fresh_days": conformal.FRESH_DAYS,
                          "power": conformal.SPREAD_POWER},
               "calibrated_on": str(run.last_date), "tables": tables, "coverage": coverage}
    return section


def train(data, out_dir, *, grid=None, n_folds=5, seed=DEFAULT_SEED, threshold=DEFAULT_THRESHOLD,
          n_jobs=-1, verbose=1, progress=print, config=None):
    """Load snapshots, grid-search and validate time-ordered, fit the final forest, save the artifacts.

    Returns the model card (also written as model_card.json in out_dir).
    """
    grid = PARAM_GRID if grid is None else grid
    config = config or TrainingConfig()
    started = time.perf_counter()
    run = Run(data, config, progress)
    origins, _, gap_days = validation_plan(run.dates, config)
    search = select(run, config, grid, seed, n_folds, n_jobs, origins[0], gap_days, verbose, progress)
    params = {k.removeprefix("forest__"): v for k, v in search.best_params_.items()}
    progress(f"chosen {params} (selection R2 {search.best_score_:.4f}); time-ordered validation")
    validation, predictions, _, _ = validate(run, config, params, seed, threshold, progress)
    validation["note"] = (
        f"Time-ordered: the forest (one multi-output fit for the horizons {run.horizons} in days) and linear "
        f"regression are trained on rows whose last target lies at least {gap_days} days before each test window "
        "and tested on the later window; coins are grouped (a window's test coins are not in its training rows). "
        "Rows are the coin-days that have a target at every horizon, so every horizon is scored on the same rows. "
        "Figures pool every window's test rows; Spearman is the mean over test dates of the within-date rank "
        "correlation. Baselines at every horizon: persistence predicts today's score; mean_7_days and "
        "mean_30_days the coin's mean score over the last 7 / 30 calendar days. The top-level models are the "
        "1-day figures; horizons holds every horizon's. four_input: the same test rows with every history feature "
        "missing, as predict_liquidity sees them.")
    progress("conformal intervals: calibrated per date on the held-out forecasts known by then")
    conformal_card = conformal_section(run, predictions)
    progress("final fit on every training row")
    pipeline, final_rows = fit_final(run, config, params, seed)
    search.best_estimator_ = pipeline
    progress("verification run (the smaller configuration `verify` retrains)")
    verification = verification_figures(data, verification_config(run, config), params, seed, threshold)
    card = model_card.build_card(
        snapshots=run.snapshots, pairs=run.pairs, training_rows=run.rows, features=final_rows, config=asdict(config),
        grid=grid, search=search, forest=pipeline.named_steps["forest"], validation=validation,
        verification=verification, seed=seed, threshold=threshold, started=started,
        horizons=run.horizons, conformal=conformal_card)
    held_out = held_out_frame(run, predictions)
    write_atomically(Path(out_dir) / PREDICTIONS_FILE, gzip.compress(held_out.to_csv(index=False).encode(), mtime=0))
    card = save_artifacts(ArtifactPaths.in_folder(out_dir), pipeline.named_steps["forest"],
                          pipeline.named_steps["scaler"], card)
    progress(format_metrics_table(card))
    return card


def held_out_frame(run, predictions):
    """Return the time-ordered test rows with every horizon's target and the forest's forecasts.

    The 1-day columns keep their names (next_liquidity_score, predicted_random_forest, predicted_linear_regression);
    a longer horizon H adds target_{H}d and predicted_random_forest_{H}d. Left out to keep the file small, as each
    can be recomputed: persistence (the liquidity_score column), the 7- and 30-day means (features), and the
    intervals (conformal.held_out_intervals of forecasts_from_held_out at each horizon).
    """
    first = run.horizons[0]
    tested = predictions[first]["index"]
    held_out = run.rows.loc[tested, ["date", "coin_id", "liquidity_score", "next_liquidity_score"]].reset_index(
        drop=True)
    held_out["predicted_random_forest"] = predictions[first]["random_forest"]
    held_out["predicted_linear_regression"] = predictions[first]["linear_regression"]
    for column, horizon in enumerate(run.horizons[1:], start=1):
        held_out[f"target_{horizon}d"] = run.target[tested, column]
        held_out[f"predicted_random_forest_{horizon}d"] = predictions[horizon]["random_forest"]
    return held_out


def forecasts_from_held_out(held_out, horizon):
    """Return held_out_forecasts' frame at horizon from a held_out_frame read back (cv_predictions.csv.gz).

    The target date is date + horizon calendar days: the next snapshot's date in daily data, as training had it."""
    actual, predicted = (("next_liquidity_score", "predicted_random_forest") if horizon == HORIZONS[0]
                         else (f"target_{horizon}d", f"predicted_random_forest_{horizon}d"))
    dates = held_out["date"].astype(str).str[:10]
    target = (pd.to_datetime(dates) + pd.Timedelta(days=horizon)).dt.strftime("%Y-%m-%d")
    return pd.DataFrame({"date": dates, "coin_id": held_out["coin_id"], "target_date": target,
                         "predicted": held_out[predicted], "actual": held_out[actual]})


def format_metrics_table(card):
    """Render the validation figures of the forest and its baselines per horizon, and the intervals' coverage."""
    validation = card["validation"]
    lines = [f"time-ordered: {len(validation['splits'])} split(s), {validation['pairs_tested']} rows tested "
             "at every horizon"]
    for horizon, figures in validation["horizons"].items():
        for title, block in ((f"{horizon}-day, history path", figures),
                             (f"{horizon}-day, four-input path", figures["four_input"])):
            lines.append(title)
            lines.append(f"{'model':<18}" + "".join(f"{name:>9}" for name in evaluation.METRICS))
            for name, m in block["models"].items():
                lines.append(f"{name:<18}" + "".join(f"{m[k]:>9.4f}" if m[k] is not None else f"{'n/a':>9}"
                                                     for k in evaluation.METRICS))
    lines.append(f"conformal intervals, recalibrated daily on the last {card['conformal']['window_days']} forecast "
                 "dates with known outcomes:")
    lines.append(f"{'horizon':<9}{'dates':>24}{'rows':>8}{'cov80':>8}{'cov90':>8}{'width80':>9}{'width90':>9}"
                 f"{'q80 min':>9}{'q80 max':>9}{'q90 min':>9}{'m80 min':>9}{'m80 max':>9}{'o80 min':>9}"
                 f"{'o80 max':>9}")
    for horizon, report in card["conformal"]["coverage"].items():
        if not report["rows"]:
            lines.append(f"{horizon + 'd':<9} no dates with a full calibration window")
            continue
        quintile80 = [q["coverage80"] for q in report["by_quintile"] if q["rows"]]
        quintile90 = [q["coverage90"] for q in report["by_quintile"] if q["rows"]]
        month80 = [m["coverage80"] for m in report["by_month"] if m["rows"]]
        outcome80 = [m["coverage80"] for m in report.get("by_outcome_month", ()) if m["rows"]] or [float("nan")]
        lines.append(f"{horizon + 'd':<9}{'..'.join(report['dates']):>24}{report['rows']:>8}"
                     f"{report['coverage80']:>8.3f}{report['coverage90']:>8.3f}{report['width80']:>9.3f}"
                     f"{report['width90']:>9.3f}{min(quintile80):>9.3f}{max(quintile80):>9.3f}{min(quintile90):>9.3f}"
                     f"{min(month80):>9.3f}{max(month80):>9.3f}{min(outcome80):>9.3f}{max(outcome80):>9.3f}")
    lines.append(f"hyper-parameters: {card['hyperparameters']}  (selection R2 {card['selection_cv_r2']:.4f})")
    lines.append(f"model version {card['model_version']}")
    return "\n".join(lines)
