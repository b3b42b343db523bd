"""Forecast the liquidity score 1, 7 and 30 days ahead with the verified forest and scaler, and conformal intervals."""

import functools
import logging
import math
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
from liquidity.modeling import conformal, fastpath
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
    band_low: float  # low end of the 1-day 80 % conformal interval
    band_high: float  # high end of the 1-day 80 % conformal interval
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

    def predict_outputs_row(self, row):
        return np.asarray(self.predict(np.asarray(row, dtype=np.float64).reshape(1, -1))).reshape(-1).tolist()

    def predict_row(self, row):
        return self.predict_outputs_row(row)[0]

    def tree_scores(self, features):
        scaled = self.scaler.transform(np.asarray(features, dtype=np.float64))
        return np.stack([np.asarray(tree.predict(scaled)).reshape(len(scaled), -1)[:, 0]
                         for tree in self.forest.estimators_])

    def tree_percentiles(self, features, percentiles):
        if not len(features):
            return np.empty((len(percentiles), 0))
        return np.percentile(self.tree_scores(features), percentiles, axis=0)

    def score_and_percentiles_row(self, row, percentiles):
        features = np.asarray(row, dtype=np.float64).reshape(1, -1)
        return self.predict_row(row), [float(value[0]) for value in self.tree_percentiles(features, percentiles)]


class HorizonForecast(NamedTuple):
    """One horizon's forecast of a coin's score with its conformal intervals."""

    horizon: int  # calendar days ahead
    forecast_score: float
    level: str
    low80: float
    high80: float
    low90: float
    high90: float


class HorizonsForecast(NamedTuple):
    """A coin's forecasts at every horizon of the model, from its own history."""

    score: float  # today's liquidity score
    horizons: tuple  # HorizonForecast per horizon, shortest first


def interval_columns(horizon, levels=conformal.LEVELS):
    """Return the column names of a horizon's forecast and intervals: forecast_score_7d, low80_7d, high80_7d, ..."""
    bounds = [f"{side}{level}_{horizon}d" for level in levels for side in ("low", "high")]
    return [f"forecast_score_{horizon}d", *bounds]


class LiquidityModel:
    """The forest, its scaler and the model card, with the threshold that splits High from Low.

    The forest has one output per horizon of the card (1, 7 and 30 calendar days); the methods without a
    horizon give the 1-day (next-snapshot) forecast, and their band_low/band_high is its 80 % conformal
    interval. Intervals come from the card's conformal tables unless a caller passes its own (calibration=,
    {horizon: table} from liquidity.modeling.conformal.calibration_table, e.g. recalibrated daily).

    Scoring goes through one backend with the same methods either way: ONNX Runtime (FastForest) when
    it rebuilt the forest exactly, else scikit-learn (SklearnBackend).
    """

    def __init__(self, forest, scaler, card, threshold=None):
        self.forest = forest
        self.scaler = scaler
        self.card = card
        self.threshold = float(card.get("threshold", DEFAULT_THRESHOLD) if threshold is None else threshold)
        self.reference = np.sort(np.asarray(card["reference_snapshot"]["liquidity_ratios"], dtype=np.float64))
        self.horizons = tuple(int(h) for h in card.get("horizons", [1]))
        self.calibration = card["conformal"]["tables"]
        self._intervals = self.prepared_intervals(self.calibration)
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

    def prepared_intervals(self, calibration):
        """Return {horizon: conformal.Intervals} of calibration ({horizon: table}, keys as text or int)."""
        tables = {int(h): table for h, table in calibration.items()}
        missing = [h for h in self.horizons if h not in tables]
        if missing:
            raise ValueError(f"calibration has no table for horizon(s) {missing} (the model forecasts {self.horizons})")
        return {h: conformal.Intervals(tables[h]) for h in self.horizons}

    def _checked_horizons(self, horizons):
        chosen = self.horizons if horizons is None else tuple(int(h) for h in horizons)
        unknown = [h for h in chosen if h not in self.horizons]
        if unknown:
            raise ValueError(f"horizon {unknown[0]} is not one of the model's horizons {list(self.horizons)}")
        return chosen

    def predict_horizon_scores(self, features):
        """Return an (n, horizons) matrix of forecast scores, one column per horizon, for unscaled features."""
        scores = np.asarray(self._scorer().predict(features), dtype=np.float64)
        return scores.reshape(len(scores), -1)

    def predict_scores(self, features):
        """Return the 1-day forecast scores for an (n, features) matrix of unscaled features."""
        return self.predict_horizon_scores(features)[:, 0]

    def intervals(self, scores, horizon, level, calibration=None):
        """Return (low, high) arrays: the conformal interval at level (80 or 90 %) around each horizon forecast."""
        table = (self.calibration if calibration is None else calibration)
        table = table.get(str(horizon), table.get(horizon)) if isinstance(table, dict) else None
        if table is None:
            raise ValueError(f"no calibration table for horizon {horizon}")
        return conformal.interval(table, scores, level)

    def interval_row(self, score, level, horizon=None):
        """Return (low, high): the card's conformal interval at level around one forecast (default: 1 day), equal to
        intervals() for that score without its arrays."""
        return self._intervals[self.horizons[0] if horizon is None else int(horizon)].row(score, level)

    def tree_scores(self, features):
        """Return an (n_trees, n) matrix of each tree's 1-day forecast for unscaled features."""
        return self._scorer().tree_scores(features)

    def band(self, features, low=10, high=90):
        """Return the low and high percentiles of the trees' 1-day forecasts, one pair per row: their spread, not a
        calibrated interval (see intervals)."""
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

    def ratio_for_one_score(self, score):
        """Return ratio_for_score for one float, bit for bit, without numpy's per-call cost (the one-row path)."""
        ratios = self._reference_list
        n = len(ratios)

        def percentile(i):  # computed as _reference_curve computes it, so the bits agree
            return (i + 0.5) / n

        # np.interp: the end values outside the curve, else the segment [i, i + 1] with percentile(i) <= score.
        if score != score:
            return math.nan
        if score >= percentile(n - 1):
            return ratios[-1]
        if score < percentile(0):
            return ratios[0]
        i = min(max(int(score * n - 0.5), 0), n - 2)  # the right segment or its neighbour, after rounding
        while percentile(i) > score:
            i -= 1
        while percentile(i + 1) <= score:
            i += 1
        if percentile(i) == score:
            return ratios[i]
        slope = (ratios[i + 1] - ratios[i]) / (percentile(i + 1) - percentile(i))
        return slope * (score - percentile(i)) + ratios[i]

    @functools.cached_property
    def _reference_curve(self):
        return (np.arange(len(self.reference)) + 0.5) / len(self.reference), self.reference

    @functools.cached_property
    def _reference_list(self):
        return self.reference.tolist()

    def out_of_range(self, volume, mkt_cap, h1, price):
        """Return the names of inputs outside the [min, max] seen in training (inputs never seen, and missing values,
        are not flagged)."""
        ranges = self.card["inputs"]
        values = {"volume": volume, "mkt_cap": mkt_cap, "1h": h1, "price": price}
        return tuple(name for name, value in values.items()
                     if ranges[name]["min"] is not None and value == value
                     and not ranges[name]["min"] <= value <= ranges[name]["max"])

    def forecast(self, volume, mkt_cap, h1, price, snapshot=None):
        """Validate one row and return its 1-day Forecast with its 80 % interval, implied volume and range warnings."""
        row = check_inputs(volume, mkt_cap, h1, price)
        score = self._scorer().predict_row(self.input_row(row, snapshot))
        low, high = self.interval_row(score, 80)
        ratio = self.ratio_for_one_score(score)
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
        low, high = self.intervals(scores, self.horizons[0], 80)
        ratios = self.ratio_for_score(scores)
        ranges = self.card["inputs"]
        outside = np.column_stack([
            ~(frame[name].between(ranges[name]["min"], ranges[name]["max"]) | frame[name].isna()).to_numpy()
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

    def forecast_snapshots(self, snapshots, dates=None, horizons=None, calibration=None):
        """Forecast every coin of stored snapshots from its own history.

        snapshots: loader columns (date, coin_id, symbol, volume, mkt_cap, 1h, price), several dates, all
        coins of each date (today's score is the coin's rank within its date); include the LONGEST_LAG
        days before the first date to forecast so the history features are present. Returns one row per
        coin per date in dates (default: every date): date, coin_id, symbol, score (today's),
        forecast_score (the next snapshot's), level, band_low, band_high (its 80 % conformal interval); with
        horizons (e.g. (1, 7, 30)), also interval_columns(H) for each: forecast_score_{H}d, low80_{H}d,
        high80_{H}d, low90_{H}d, high90_{H}d. calibration: {horizon: table} instead of the card's tables.
        """
        frame = snapshots if "liquidity_score" in snapshots else add_liquidity_score(snapshots)
        if "1h" not in frame:  # a source without it: missing, as in the daily history
            frame = frame.assign(**{"1h": np.nan})
        frame = frame.reset_index(drop=True)
        rows = np.arange(len(frame)) if dates is None else np.flatnonzero(frame["date"].isin(list(dates)).to_numpy())
        chosen_horizons = () if horizons is None else self._checked_horizons(horizons)
        if calibration is not None:
            self.prepared_intervals(calibration)  # a table missing for a horizon is an error here, not a KeyError later
        features = snapshot_features(frame, rows)
        every = self.predict_horizon_scores(features)
        scores = every[:, 0]
        low, high = self.intervals(scores, self.horizons[0], 80, calibration)
        chosen = frame.iloc[rows]
        columns = {
            "date": chosen["date"].to_numpy(), "coin_id": chosen["coin_id"].to_numpy(),
            "symbol": chosen["symbol"].to_numpy(), "score": chosen["liquidity_score"].to_numpy(dtype=np.float64),
            "forecast_score": scores, "level": self.levels(scores), "band_low": low, "band_high": high,
        }
        for horizon in chosen_horizons:
            forecast = every[:, self.horizons.index(horizon)]
            columns[f"forecast_score_{horizon}d"] = forecast
            for level in conformal.LEVELS:
                columns[f"low{level}_{horizon}d"], columns[f"high{level}_{horizon}d"] = self.intervals(
                    forecast, horizon, level, calibration)
        return pd.DataFrame(columns)

    def forecast_history(self, dates, volume, mkt_cap, h1, price, score):
        """Forecast one coin from its own rows (arrays oldest first, the last one today): a HistoryForecast
        (score today, forecast score, level, band_low, band_high) without pandas."""
        row = coin_feature_row(dates, volume, mkt_cap, h1, price, score)
        forecast = self._scorer().predict_row(row)
        low, high = self._intervals[self.horizons[0]].row(forecast, 80)  # the 1-day 80 % conformal interval
        return HistoryForecast(float(row[SCORE_TODAY]), forecast, self.level(forecast), low, high)

    def forecast_history_horizons(self, dates, volume, mkt_cap, h1, price, score, calibration=None):
        """Forecast one coin from its own rows (as forecast_history) at every horizon of the model: a
        HorizonsForecast with each horizon's score, level and 80 % / 90 % conformal intervals, without pandas.

        calibration: {horizon: table} instead of the card's tables (prepare it once with prepared_intervals
        and pass that dict of conformal.Intervals to skip the preparation on every call)."""
        row = coin_feature_row(dates, volume, mkt_cap, h1, price, score)
        forecasts = self._scorer().predict_outputs_row(row)
        if calibration is None:
            prepared = self._intervals
        elif all(isinstance(v, conformal.Intervals) for v in calibration.values()):
            prepared = calibration
        else:
            prepared = self.prepared_intervals(calibration)
        horizons = []
        for horizon, forecast in zip(self.horizons, forecasts):
            intervals = prepared[horizon]
            horizons.append(HorizonForecast(horizon, forecast, self.level(forecast),
                                            *intervals.row(forecast, 80), *intervals.row(forecast, 90)))
        return HorizonsForecast(float(row[SCORE_TODAY]), tuple(horizons))


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
