"""Train the tuned RandomForest on snapshot history and write the artifacts and model card."""

import gzip
import logging
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from liquidity.artifacts import PREDICTIONS_FILE, ArtifactPaths, save_artifacts
from liquidity.dataset import DatasetError, load_snapshots, make_pairs
from liquidity.features import FEATURE_NAMES, HISTORY_FEATURES, LONGEST_LAG, with_features
from liquidity.files import write_atomically
from liquidity.modeling import card as model_card
from liquidity.modeling import evaluation

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5
DEFAULT_SEED = 42

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


@dataclass(frozen=True)
class TrainingConfig:
    """What rows a run trains on and how it is validated; recorded in the model card."""

    since: str | None = None  # first pair date trained on (earlier rows still feed the history features)
    until: str | None = None  # last pair date trained on
    max_rows: int = 60_000  # rows sampled (seeded) for each fit, before the masked copies
    masked_share: float = 0.5  # share of sampled rows added again with history missing: the four-input path
    test_days: int = 91  # length of each time-ordered test window
    origins: int = 2  # test windows rolling forward, the last ending at the last pair date
    gap_days: int = LONGEST_LAG + 1  # targets of training rows end this many days before a test window
    coin_folds: int = 2  # coins split in this many groups; a test window's coins are never trained on


# A smaller run that `verify` can retrain in CI: the committed hyper-parameters, no grid, a fixed date range.
VERIFY_DAYS = 400
VERIFY_CONFIG = {"max_rows": 20_000, "origins": 1, "test_days": 61}


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
    last = np.datetime64(before, "D") - np.timedelta64(gap_days, "D")
    origins = [str(last - np.timedelta64(test_days * (n_folds - i), "D")) for i in range(n_folds)]
    return time_ordered_splits_or_fail(dates, next_dates, coins, origins, gap_days, test_days, coin_folds)


def time_ordered_splits_or_fail(dates, next_dates, coins, origins, gap_days, test_days, coin_folds):
    splits = evaluation.time_ordered_splits(dates, next_dates, coins, origins, gap_days, test_days,
                                            coin_folds, rotate=True)
    if not splits:
        raise DatasetError("too few snapshot dates or coins for a time-ordered, coin-grouped split")
    return splits


class Run:
    """The rows of one training run: features, target, dates and coins of every next-snapshot pair."""

    def __init__(self, data, config, progress):
        self.snapshots = load_snapshots(data)
        frame = self.snapshots.frame
        pairs = make_pairs(with_features(frame))
        self.pairs = pairs
        keep = np.ones(len(pairs), dtype=bool)
        if config.since:
            keep &= pairs["date"].to_numpy() >= config.since
        if config.until:
            keep &= pairs["date"].to_numpy() <= config.until
        self.rows = pairs[keep].reset_index(drop=True)
        if self.rows.empty:
            raise DatasetError(f"no next-snapshot pairs between {config.since} and {config.until}")
        self.features = self.rows[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
        self.target = self.rows["next_liquidity_score"].to_numpy()
        self.dates = self.rows["date"].to_numpy()
        self.next_dates = self.rows["next_date"].to_numpy()
        self.coins = self.rows["coin_id"].to_numpy()
        progress(f"loaded {len(frame)} rows from {len(self.snapshots.files)} file(s), dates "
                 f"{self.snapshots.dates[0]}..{self.snapshots.dates[-1]}; {len(pairs)} next-snapshot pairs, "
                 f"{len(self.rows)} trained on ({self.dates.min()}..{self.dates.max()}), "
                 f"{self.rows['coin_id'].nunique()} coins")

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
        return forest_pipeline(seed, **params).fit(rows, target)

    def fit_linear(train):
        rows, target, _ = training_sample(train, run.features, run.target, config, seed)
        return linear_pipeline().fit(rows, target)

    baselines = {"persistence": run.features[:, SCORE_TODAY], "mean_7_days": run.features[:, SCORE_MEAN7]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the all-missing h1 of the daily history
        warnings.simplefilter("ignore", UserWarning)
        history, four_input, predictions = evaluation.evaluate(
            {"random_forest": fit_forest, "linear_regression": fit_linear}, baselines, run.features, run.target,
            run.dates, splits, threshold, masked=run.masked(), progress=progress)
    history["four_input"] = four_input
    return history, predictions, origins[0], gap_days


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
    search = GridSearchCV(forest_pipeline(seed), grid, scoring="r2", cv=[(tr, te) for tr, te, _ in folds],
                          n_jobs=n_jobs, verbose=verbose, error_score="raise", refit=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        search.fit(rows, target)
    search.folds_described = [info for _, _, info in folds]
    return search


def fit_final(run, config, params, seed):
    """Fit the forest with params on a sample of every training row (plus its masked copies)."""
    rows, target, _ = training_sample(np.arange(len(run.target)), run.features, run.target, config, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return forest_pipeline(seed, **params).fit(rows, target), rows


def verification_config(run, config):
    """Return the smaller configuration `verify` retrains: the last VERIFY_DAYS of the trained range."""
    last = np.datetime64(str(run.dates.max()), "D")
    since = max(str(last - np.timedelta64(VERIFY_DAYS, "D")), str(run.dates.min()))
    return replace(config, since=since, until=str(last), **VERIFY_CONFIG)


def verification_figures(data, config, params, seed, threshold, progress=lambda _: None):
    """Train and validate the forest with fixed params under config; return the figures verify compares."""
    run = Run(data, config, progress)
    figures, _, _, _ = validate(run, config, params, seed, threshold, progress)
    return {"config": asdict(config), "hyperparameters": params, "validation": figures}


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
        "Time-ordered: the forest and linear regression are trained on rows whose next-snapshot target lies at "
        f"least {gap_days} days before each test window and tested on the later window; coins are grouped "
        "(a window's test coins are not in its training rows). Figures pool every window's test rows; "
        "Spearman is the mean over test dates of the within-date rank correlation. Persistence predicts "
        "next score = today's; mean_7_days predicts the coin's mean score over the last 7 calendar days. "
        "four_input: the same test rows with every history feature missing, as predict_liquidity sees them.")
    progress("final fit on every training row")
    pipeline, final_rows = fit_final(run, config, params, seed)
    search.best_estimator_ = pipeline
    progress("verification run (the smaller configuration `verify` retrains)")
    verification = verification_figures(data, verification_config(run, config), params, seed, threshold)
    card = model_card.build_card(
        snapshots=run.snapshots, pairs=run.pairs, training_rows=run.rows, features=final_rows, config=asdict(config),
        grid=grid, search=search, forest=pipeline.named_steps["forest"], validation=validation,
        verification=verification, seed=seed, threshold=threshold, started=started)
    tested = predictions["index"]
    # Persistence is left out: it is the liquidity_score column.
    held_out = run.rows.loc[tested, ["date", "coin_id", "liquidity_score", "next_liquidity_score"]].assign(
        **{f"predicted_{name}": values for name, values in predictions.items() if name not in ("index", "persistence")})
    write_atomically(Path(out_dir) / PREDICTIONS_FILE, gzip.compress(held_out.to_csv(index=False).encode(), mtime=0))
    card = save_artifacts(ArtifactPaths.in_folder(out_dir), pipeline.named_steps["forest"],
                          pipeline.named_steps["scaler"], card)
    progress(format_metrics_table(card))
    return card


def format_metrics_table(card):
    """Render the validation figures of the forest and its baselines as a text table."""
    validation = card["validation"]
    lines = []
    for title, block in (("time-ordered, history path", validation), ("four-input path", validation["four_input"])):
        lines.append(f"{title}: {len(block['splits'])} split(s), {block['pairs_tested']} rows tested")
        lines.append(f"{'model':<18}" + "".join(f"{name:>9}" for name in evaluation.METRICS))
        for name, m in block["models"].items():
            lines.append(f"{name:<18}" + "".join(f"{m[k]:>9.4f}" if m[k] is not None else f"{'n/a':>9}"
                                                 for k in evaluation.METRICS))
    lines.append(f"hyper-parameters: {card['hyperparameters']}  (selection R2 {card['selection_cv_r2']:.4f})")
    lines.append(f"model version {card['model_version']}")
    return "\n".join(lines)
