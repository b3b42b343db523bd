"""Forecast the next-snapshot liquidity score with the verified forest and scaler."""

import functools
import logging
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from liquidity.artifacts import default_artifact_paths, load_artifacts
from liquidity.features import INPUT_COLUMNS, build_features, feature_row, features_from_frame
from liquidity.modeling import fastpath
from liquidity.validation import check_inputs

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5


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


class LiquidityModel:
    """The forest, its scaler and the model card, with the threshold that splits High from Low."""

    def __init__(self, forest, scaler, card, threshold=None):
        self.forest = forest
        self.scaler = scaler
        self.card = card
        self.threshold = float(card.get("threshold", DEFAULT_THRESHOLD) if threshold is None else threshold)
        # The fast path is rebuilt from the verified forest and scaler; backend and backend_reason say which runs.
        self.fast, self.backend_reason = fastpath.compile_forest(forest, scaler)
        self.backend = self.fast.backend if self.fast else fastpath.SCIKIT_LEARN
        if self.fast:
            log.info("fast path: %s", self.backend_reason)
        else:
            log.warning("fast path unavailable, scoring with scikit-learn: %s", self.backend_reason)

    @classmethod
    def load(cls, paths=None, threshold=None):
        """Load verified artifacts from paths (default: the project root)."""
        artifacts = load_artifacts(paths or default_artifact_paths())
        return cls(artifacts.forest, artifacts.scaler, artifacts.card, threshold)

    @property
    def version(self):
        return self.card["model_version"]

    def level(self, score):
        """Return "High" when score >= threshold, else "Low"."""
        return "High" if score >= self.threshold else "Low"

    def _fast_path(self):
        """Return the fast path, started in this process, or None when scikit-learn scores."""
        fast = self.fast
        if fast is None or fast.started:
            return fast
        try:
            fast.start()  # here, not at load: onnxruntime must not be imported before a fork
        except fastpath.FastPathError as error:
            self.fast, self.backend, self.backend_reason = None, fastpath.SCIKIT_LEARN, str(error)
            log.warning("fast path unavailable, scoring with scikit-learn: %s", error)
            return None
        self.backend_reason = fast.describe()
        log.info("fast path: %s", self.backend_reason)
        return fast

    def warm_up(self):
        """Start the fast path in this process now (e.g. in a gunicorn worker after fork) instead of on first use."""
        self._fast_path()
        return self.backend

    def predict_scores(self, features):
        """Return forecast scores for an (n, features) matrix of unscaled features."""
        fast = self._fast_path()
        if fast:
            return fast.predict(features)
        return self.forest.predict(self.scaler.transform(features))

    def _score_row(self, row):
        fast = self._fast_path()
        if fast:
            return fast.predict_row(feature_row(*row))
        return float(self.predict_scores(build_features(*row))[0])

    def predict_one(self, volume, mkt_cap, h1, price):
        """Validate one row of raw inputs and return its Prediction."""
        row = check_inputs(volume, mkt_cap, h1, price)
        score = self._score_row(row)
        return Prediction(score, self.level(score))

    def tree_scores(self, features):
        """Return an (n_trees, n) matrix of each tree's forecast for unscaled features."""
        fast = self._fast_path()
        if fast:
            return fast.tree_scores(features)
        scaled = self.scaler.transform(features)
        return np.stack([tree.predict(scaled) for tree in self.forest.estimators_])

    def band(self, features, low=10, high=90):
        """Return the low and high percentiles of the trees' forecasts, one pair per row."""
        fast = self._fast_path()
        if fast:
            low_scores, high_scores = fast.tree_percentiles(features, [low, high])
            return low_scores, high_scores
        low_scores, high_scores = np.percentile(self.tree_scores(features), [low, high], axis=0)
        return low_scores, high_scores

    def ratio_for_score(self, score):
        """Map a score back to the liquidity ratio holding that percentile in the reference snapshot."""
        percentiles, ratios = self._reference_curve
        return np.interp(score, percentiles, ratios)

    @functools.cached_property
    def _reference_curve(self):
        ratios = np.asarray(self.card["reference_snapshot"]["liquidity_ratios"])
        return (np.arange(len(ratios)) + 0.5) / len(ratios), ratios

    def out_of_range(self, volume, mkt_cap, h1, price):
        """Return the names of inputs outside the [min, max] seen in training."""
        ranges = self.card["inputs"]
        values = {"volume": volume, "mkt_cap": mkt_cap, "1h": h1, "price": price}
        return tuple(name for name, value in values.items()
                     if not ranges[name]["min"] <= value <= ranges[name]["max"])

    def forecast(self, volume, mkt_cap, h1, price):
        """Validate one row and return its Forecast with band, implied volume and range warnings."""
        row = check_inputs(volume, mkt_cap, h1, price)
        fast = self._fast_path()
        if fast:  # one run of the per-tree model gives both the score and the band
            score, (low, high) = fast.score_and_percentiles_row(feature_row(*row), (10, 90))
        else:
            score = self._score_row(row)
            low, high = (float(value[0]) for value in self.band(build_features(*row)))
        ratio = float(self.ratio_for_score(score))
        return Forecast(score, self.level(score), low, high, ratio, ratio * row[1],
                        self.out_of_range(*row))

    def predict_frame(self, frame):
        """Return a frame of liquidity_score and liquidity_level for valid rows holding INPUT_COLUMNS."""
        scores = self.predict_scores(features_from_frame(frame))
        levels = np.where(scores >= self.threshold, "High", "Low")
        return pd.DataFrame({"liquidity_score": scores, "liquidity_level": levels}, index=frame.index)

    def forecast_frame(self, frame):
        """Return the Forecast fields, one row per valid row of INPUT_COLUMNS, scored vectorised."""
        features = features_from_frame(frame)
        scores = self.predict_scores(features)
        low, high = self.band(features)
        ratios = self.ratio_for_score(scores)
        ranges = self.card["inputs"]
        outside = np.column_stack([~frame[name].between(ranges[name]["min"], ranges[name]["max"]).to_numpy()
                                   for name in INPUT_COLUMNS])
        return pd.DataFrame({
            "liquidity_score": scores,
            "liquidity_level": np.where(scores >= self.threshold, "High", "Low"),
            "band_low": low,
            "band_high": high,
            "implied_ratio": ratios,
            "implied_volume": ratios * frame["mkt_cap"].to_numpy(dtype=np.float64),
            "out_of_range": [tuple(n for n, flag in zip(INPUT_COLUMNS, row) if flag) for row in outside],
        }, index=frame.index)


@functools.cache
def default_model():
    """Load the project's committed model once per process."""
    return LiquidityModel.load()


def predict_liquidity(volume, mkt_cap, h1, price, *, model=None, threshold=None):
    """Forecast the next-snapshot liquidity score and level for one coin.

    volume and mkt_cap in USD, h1 as a fraction (0.022 = +2.2 %), price in USD.
    Raises liquidity.validation.InputError naming each invalid field.
    """
    model = model or default_model()
    score, _ = model.predict_one(volume, mkt_cap, h1, price)
    cutoff = model.threshold if threshold is None else threshold
    return Prediction(score, "High" if score >= cutoff else "Low")
