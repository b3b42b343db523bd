"""Forecast the next-snapshot liquidity score with the verified forest and scaler."""

import functools
import logging
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from liquidity.artifacts import committed_artifact_paths, load_artifacts
from liquidity.dataset import add_liquidity_score
from liquidity.features import (
    FEATURE_NAMES,
    INPUT_COLUMNS,
    coin_feature_row,
    input_feature_row,
    input_features,
    snapshot_features,
)
from liquidity.modeling import fastpath
from liquidity.validation import check_inputs

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5
SCORE_TODAY = FEATURE_NAMES.index("score_today")


class Prediction(NamedTuple):
    """A forecast liquidity score and its High/Low level."""

    score: float
    level: str


@dataclass(frozen=True)
class Forecast:
    """A prediction with what a person needs to read it: band, implied volume, range warnings."""

    score: float
    level: str
    band_low: float  # 10th percentile of the trees' predictions
    band_high: float  # 90th percentile of the trees' predictions
    implied_ratio: float  # next-snapshot volume / market cap that the score maps to in the reference snapshot
    implied_volume: float  # implied_ratio times today's market cap, USD
    out_of_range: tuple  # input names outside the range seen in training


class SklearnBackend:
    """Score with the verified scikit-learn forest and scaler themselves: the reference, and the fallback."""

    backend = fastpath.SCIKIT_LEARN

    def __init__(self, forest, scaler):
        self.forest, self.scaler = forest, scaler

    def describe(self):
        return f"scikit-learn {len(self.forest.estimators_)} trees"

    def predict(self, features):
        return self.forest.predict(self.scaler.transform(np.asarray(features, dtype=np.float64)))

    def predict_row(self, row):
        return float(self.predict(np.asarray(row, dtype=np.float64).reshape(1, -1))[0])

    def tree_scores(self, features):
        scaled = self.scaler.transform(np.asarray(features, dtype=np.float64))
        return np.stack([tree.predict(scaled) for tree in self.forest.estimators_])

    def tree_percentiles(self, features, percentiles):
        if not len(features):
            return np.empty((len(percentiles), 0))
        return np.percentile(self.tree_scores(features), percentiles, axis=0)

    def score_and_percentiles_row(self, row, percentiles):
        features = np.asarray(row, dtype=np.float64).reshape(1, -1)
        return self.predict_row(row), [float(value[0]) for value in self.tree_percentiles(features, percentiles)]


class LiquidityModel:
    """The forest, its scaler and the model card, with the threshold that splits High from Low.

    Scoring goes through one backend with the same methods either way: ONNX Runtime (FastForest) when
    it rebuilt the forest exactly, else scikit-learn (SklearnBackend).
    """

    def __init__(self, forest, scaler, card, threshold=None):
        self.forest = forest
        self.scaler = scaler
        self.card = card
        self.threshold = float(card.get("threshold", DEFAULT_THRESHOLD) if threshold is None else threshold)
        self.reference = np.sort(np.asarray(card["reference_snapshot"]["liquidity_ratios"], dtype=np.float64))
        self.sklearn = SklearnBackend(forest, scaler)
        # The fast path is rebuilt from the verified forest and scaler; backend and backend_reason say which runs.
        self.fast, self.backend_reason = fastpath.compile_forest(forest, scaler)
        self.backend = self.fast.backend if self.fast else fastpath.SCIKIT_LEARN
        if self.fast:
            log.info("fast path: %s", self.backend_reason)
        else:
            log.warning("fast path unavailable, scoring with scikit-learn: %s", self.backend_reason)

    @classmethod
    def load(cls, paths=None, threshold=None):
        """Load verified artifacts from paths (default: the model committed at the project root)."""
        artifacts = load_artifacts(paths or committed_artifact_paths())
        return cls(artifacts.forest, artifacts.scaler, artifacts.card, threshold)

    @property
    def version(self):
        return self.card["model_version"]

    def level(self, score):
        """Return "High" when score >= threshold, else "Low"."""
        return "High" if score >= self.threshold else "Low"

    def levels(self, scores):
        """Return "High"/"Low" for each score, by the same rule as level."""
        return np.where(np.asarray(scores) >= self.threshold, "High", "Low")

    def _scorer(self):
        """Return the backend that scores in this process: the fast path once started here, else scikit-learn."""
        fast = self.fast
        if fast is None:
            return self.sklearn
        if fast.started:
            return fast
        try:
            fast.start()  # here, not at load: onnxruntime must not be imported before a fork
        except fastpath.FastPathError as error:
            self.fast, self.backend, self.backend_reason = None, fastpath.SCIKIT_LEARN, str(error)
            log.warning("fast path unavailable, scoring with scikit-learn: %s", error)
            return self.sklearn
        self.backend_reason = fast.describe()
        log.info("fast path: %s", self.backend_reason)
        return fast

    def warm_up(self):
        """Start the fast path in this process now (e.g. in a gunicorn worker after fork) instead of on first use."""
        self._scorer()
        return self.backend

    def predict_scores(self, features):
        """Return forecast scores for an (n, features) matrix of unscaled features."""
        return self._scorer().predict(features)

    def tree_scores(self, features):
        """Return an (n_trees, n) matrix of each tree's forecast for unscaled features."""
        return self._scorer().tree_scores(features)

    def band(self, features, low=10, high=90):
        """Return the low and high percentiles of the trees' forecasts, one pair per row."""
        low_scores, high_scores = self._scorer().tree_percentiles(features, [low, high])
        return low_scores, high_scores

    def reference_ratios(self, snapshot=None):
        """Return the sorted ratios today's score is ranked against: snapshot's (a frame of one date, or its
        sorted ratios as an array) or, without one, the model card's reference snapshot."""
        if snapshot is None:
            return self.reference
        if isinstance(snapshot, np.ndarray):
            return snapshot
        if "liquidity_ratio" in snapshot:
            ratios = snapshot["liquidity_ratio"].to_numpy(dtype=np.float64)
        else:
            ratios = snapshot["volume"].to_numpy(dtype=np.float64) / snapshot["mkt_cap"].to_numpy(dtype=np.float64)
        return np.sort(ratios[np.isfinite(ratios)])

    def input_row(self, row, snapshot=None):
        """Return the feature row of the four-input path for validated raw inputs."""
        return input_feature_row(*row, self.reference_ratios(snapshot))

    def predict_one(self, volume, mkt_cap, h1, price, snapshot=None):
        """Validate one row of raw inputs and return its Prediction (history missing)."""
        row = check_inputs(volume, mkt_cap, h1, price)
        score = self._scorer().predict_row(self.input_row(row, snapshot))
        return Prediction(score, self.level(score))

    def ratio_for_score(self, score):
        """Map a score back to the liquidity ratio holding that percentile in the reference snapshot."""
        percentiles, ratios = self._reference_curve
        return np.interp(score, percentiles, ratios)

    @functools.cached_property
    def _reference_curve(self):
        return (np.arange(len(self.reference)) + 0.5) / len(self.reference), self.reference

    def out_of_range(self, volume, mkt_cap, h1, price):
        """Return the names of inputs outside the [min, max] seen in training (inputs never seen are not flagged)."""
        ranges = self.card["inputs"]
        values = {"volume": volume, "mkt_cap": mkt_cap, "1h": h1, "price": price}
        return tuple(name for name, value in values.items()
                     if ranges[name]["min"] is not None and not ranges[name]["min"] <= value <= ranges[name]["max"])

    def forecast(self, volume, mkt_cap, h1, price, snapshot=None):
        """Validate one row and return its Forecast with band, implied volume and range warnings."""
        row = check_inputs(volume, mkt_cap, h1, price)
        # One run of the per-tree model gives both the score and the band.
        score, (low, high) = self._scorer().score_and_percentiles_row(self.input_row(row, snapshot), (10, 90))
        ratio = float(self.ratio_for_score(score))
        return Forecast(score, self.level(score), low, high, ratio, ratio * row[1], self.out_of_range(*row))

    def input_features(self, frame, snapshot=None):
        """Return the four-input path's feature matrix for valid rows holding INPUT_COLUMNS."""
        return input_features(*(frame[column].to_numpy() for column in INPUT_COLUMNS), self.reference_ratios(snapshot))

    def predict_frame(self, frame, snapshot=None):
        """Return a frame of liquidity_score and liquidity_level for valid rows holding INPUT_COLUMNS."""
        scores = self.predict_scores(self.input_features(frame, snapshot))
        return pd.DataFrame({"liquidity_score": scores, "liquidity_level": self.levels(scores)}, index=frame.index)

    def forecast_frame(self, frame, snapshot=None):
        """Return the Forecast fields, one row per valid row of INPUT_COLUMNS, scored vectorised."""
        features = self.input_features(frame, snapshot)
        scores = self.predict_scores(features)
        low, high = self.band(features)
        ratios = self.ratio_for_score(scores)
        ranges = self.card["inputs"]
        outside = np.column_stack([
            ~frame[name].between(ranges[name]["min"], ranges[name]["max"]).to_numpy()
            if ranges[name]["min"] is not None else np.zeros(len(frame), dtype=bool) for name in INPUT_COLUMNS])
        return pd.DataFrame({
            "liquidity_score": scores,
            "liquidity_level": self.levels(scores),
            "band_low": low,
            "band_high": high,
            "implied_ratio": ratios,
            "implied_volume": ratios * frame["mkt_cap"].to_numpy(dtype=np.float64),
            "out_of_range": [tuple(n for n, flag in zip(INPUT_COLUMNS, row) if flag) for row in outside],
        }, index=frame.index)

    def forecast_snapshots(self, snapshots, dates=None):
        """Forecast every coin of stored snapshots from its own history.

        snapshots: loader columns (date, coin_id, symbol, volume, mkt_cap, 1h, price), several dates, all
        coins of each date (today's score is the coin's rank within its date); include the LONGEST_LAG
        days before the first date to forecast so the history features are present. Returns one row per
        coin per date in dates (default: every date): date, coin_id, symbol, score (today's),
        forecast_score (the next snapshot's), level, band_low, band_high.
        """
        frame = snapshots if "liquidity_score" in snapshots else add_liquidity_score(snapshots)
        if "1h" not in frame:  # a source without it: missing, as in the daily history
            frame = frame.assign(**{"1h": np.nan})
        frame = frame.reset_index(drop=True)
        rows = np.arange(len(frame)) if dates is None else np.flatnonzero(frame["date"].isin(list(dates)).to_numpy())
        features = snapshot_features(frame, rows)
        scores = self.predict_scores(features)
        low, high = self.band(features)
        chosen = frame.iloc[rows]
        return pd.DataFrame({
            "date": chosen["date"].to_numpy(), "coin_id": chosen["coin_id"].to_numpy(),
            "symbol": chosen["symbol"].to_numpy(), "score": chosen["liquidity_score"].to_numpy(dtype=np.float64),
            "forecast_score": scores, "level": self.levels(scores), "band_low": low, "band_high": high,
        })

    def forecast_history(self, dates, volume, mkt_cap, h1, price, score):
        """Forecast one coin from its own rows (arrays oldest first, the last one today): a HistoryForecast
        (score today, forecast score, level, band_low, band_high) without pandas."""
        row = coin_feature_row(dates, volume, mkt_cap, h1, price, score)
        forecast, (low, high) = self._scorer().score_and_percentiles_row(row, (10, 90))
        return HistoryForecast(float(row[SCORE_TODAY]), forecast, self.level(forecast), low, high)


class HistoryForecast(NamedTuple):
    """One coin's forecast from its own history (liquidity.forecasting.CoinForecast adds its names and inputs)."""

    score: float  # today's liquidity score
    forecast_score: float  # the next snapshot's, forecast
    level: str
    band_low: float
    band_high: float


def forecast_snapshots(snapshots, *, model=None, dates=None):
    """Forecast every coin of stored snapshots from its history: see LiquidityModel.forecast_snapshots."""
    return (model or committed_model()).forecast_snapshots(snapshots, dates)


@functools.cache
def committed_model():
    """Load the model committed at the project root, once per process.

    The one thing this layer keeps: read-only files of the repository, never state from a store or a setting (a
    model at other paths, e.g. LIQUIDITY_MODEL_PATH's, is LiquidityModel.load(paths), passed in as model=).
    """
    return LiquidityModel.load(committed_artifact_paths())


def predict_liquidity(volume, mkt_cap, h1, price, *, model=None, threshold=None, reference=None):
    """Forecast the next-snapshot liquidity score and level for one coin from its four inputs.

    volume and mkt_cap in USD, h1 as a fraction (0.022 = +2.2 %), price in USD. Today's score is the
    rank of volume / mkt_cap in reference (a frame of one date, or its sorted ratios as an array), by
    default in the model card's reference snapshot; the coin's history is missing. model defaults to the
    committed model. Never opens a store: the caller decides where reference comes from. Raises
    liquidity.validation.InputError naming each invalid field.
    """
    model = model or committed_model()
    score, _ = model.predict_one(volume, mkt_cap, h1, price, snapshot=reference)
    cutoff = model.threshold if threshold is None else threshold
    return Prediction(score, "High" if score >= cutoff else "Low")
