"""The ONNX Runtime fast path predicts what scikit-learn predicts, and the model falls back when it cannot be built."""

import logging
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from liquidity.features import FEATURE_NAMES, INPUT_COLUMNS, build_features, feature_row, input_features
from liquidity.modeling import fastpath
from liquidity.modeling.predict import LiquidityModel, predict_liquidity
from liquidity.validation import INPUT_LIMITS

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def committed_model():
    model = LiquidityModel.load()
    model.warm_up()  # started before any test makes onnxruntime fail on purpose
    return model


@pytest.fixture(params=[pytest.param("committed", marks=pytest.mark.slow), "fixture", "horizons"])
def model(request, fixture_model):
    """The committed model, the one-horizon fixture model and the three-horizon (multi-output) one."""
    chosen = {"committed": "committed_model", "fixture": "fixture_model", "horizons": "horizons_model"}[request.param]
    chosen = request.getfixturevalue(chosen)
    chosen.warm_up()
    return chosen


def features_of(model, frame):
    """The four-input path's features of frame's rows, ranked against the model's reference snapshot."""
    return input_features(*(frame[c] for c in INPUT_COLUMNS), model.reference)


def first_output(scores):
    """The 1-day column of a forest's predictions (a one-horizon forest's are that column already)."""
    scores = np.asarray(scores)
    return scores.reshape(len(scores), -1)[:, 0]


def sklearn_scores(model, frame):
    """The reference: the pickled scaler and forest, exactly as scikit-learn runs them (the 1-day forecast)."""
    return first_output(model.forest.predict(model.scaler.transform(features_of(model, frame))))


def raw_rows(card, count=4000, seed=7):
    """Rows within the training ranges, beyond them up to the input limits, and at the exact range edges."""
    rng = np.random.default_rng(seed)
    ranges = card["inputs"]
    columns = {}
    bounds = {}
    for name in INPUT_COLUMNS:
        limit_low, limit_high, _ = INPUT_LIMITS[name]
        low, high = ranges[name]["min"], ranges[name]["max"]
        if low is None:  # an input the training data never held: its limits instead
            low, high = max(limit_low, -0.5), min(limit_high, 1.0)
        bounds[name] = (low, high)
        low, high = bounds[name]
        if name == "1h":
            inside = rng.uniform(low, high, count // 2)
            beyond = rng.uniform(limit_low + 1e-3, 1.0, count // 2)
        else:
            floor = max(low, 1e-12)
            inside = np.exp(rng.uniform(np.log(floor), np.log(high), count // 2))
            beyond = np.exp(rng.uniform(np.log(1e-9), np.log(limit_high), count // 2))
        columns[name] = np.concatenate([inside, beyond])
    frame = pd.DataFrame(columns)
    # Every corner of the training box: each input at its exact minimum or maximum.
    corners = np.array(np.meshgrid(*[bounds[n] for n in INPUT_COLUMNS])).reshape(4, -1).T
    corners = pd.DataFrame(corners, columns=list(INPUT_COLUMNS))
    corners["volume"] = corners["volume"].clip(lower=0.0)
    return pd.concat([frame, corners], ignore_index=True)


def threshold_rows(model, seed=3):
    """Scaled rows sitting exactly on split thresholds (as float32) and one float32 step either side."""
    rng = np.random.default_rng(seed)
    forest = model.forest
    # Only finite thresholds: a split separating missing from present values has an infinite one.
    per_feature = [np.concatenate([e.tree_.threshold[(e.tree_.feature == j) & np.isfinite(e.tree_.threshold)]
                                   for e in forest.estimators_]) for j in range(forest.n_features_in_)]
    rows = rng.normal(size=(1500, forest.n_features_in_)).astype(np.float32)
    for j, thresholds in enumerate(per_feature):
        if len(thresholds):
            rows[:, j] = np.float32(rng.choice(thresholds, size=len(rows)))
    below, above = np.nextafter(rows, np.float32(-np.inf)), np.nextafter(rows, np.float32(np.inf))
    return np.concatenate([rows, below, above])


def test_the_fast_path_is_active_where_onnxruntime_is_installed(model):
    assert model.backend == "onnxruntime"
    assert model.warm_up() == "onnxruntime"
    assert model.fast.started
    assert "check rows" in model.backend_reason


def test_batch_scores_equal_scikit_learn_on_thousands_of_rows_in_and_beyond_the_training_range(model):
    frame = raw_rows(model.card)
    assert len(frame) > 4000
    expected = sklearn_scores(model, frame)
    got = model.predict_frame(frame)["liquidity_score"].to_numpy()
    assert np.max(np.abs(got - expected)) <= TOLERANCE


def test_one_row_scores_equal_scikit_learn_including_the_range_edges(model):
    frame = raw_rows(model.card, count=600)
    expected = sklearn_scores(model, frame)
    got = [predict_liquidity(r.volume, r.mkt_cap, r._3, r.price, model=model).score
           for r in frame[list(INPUT_COLUMNS)].itertuples()]
    assert np.max(np.abs(np.array(got) - expected)) <= TOLERANCE


def test_rows_exactly_at_split_thresholds_take_scikit_learns_branch(model):
    model.warm_up()
    rows = threshold_rows(model)
    expected = model.forest.predict(rows)
    assert np.max(np.abs(model.fast.predict_scaled(rows.astype(np.float64)) - expected)) <= TOLERANCE


def test_threaded_and_single_threaded_batches_agree(committed_model):
    frame = raw_rows(committed_model.card, count=3000)
    features = features_of(committed_model, frame)
    one_thread = fastpath.FastForest(committed_model.forest, committed_model.scaler, workers=1)
    two_threads = fastpath.FastForest(committed_model.forest, committed_model.scaler, workers=2)
    one_thread.start()
    two_threads.start()
    np.testing.assert_allclose(one_thread.predict(features), two_threads.predict(features), rtol=0, atol=1e-12)


def test_tree_scores_and_band_equal_scikit_learns_trees(model):
    frame = raw_rows(model.card, count=1000)
    features = features_of(model, frame)
    scaled = model.scaler.transform(features)
    expected = np.stack([first_output(tree.predict(scaled)) for tree in model.forest.estimators_])
    got = model.tree_scores(features)
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= TOLERANCE
    low, high = model.band(features)
    expected_low, expected_high = np.percentile(expected, [10, 90], axis=0)
    assert np.max(np.abs(low - expected_low)) <= TOLERANCE
    assert np.max(np.abs(high - expected_high)) <= TOLERANCE


def test_forecast_score_and_band_match_scikit_learn_for_one_row(committed_model):
    from liquidity.modeling import conformal

    inputs = dict(volume=35e9, mkt_cap=770e9, h1=0.022, price=40859.46)
    forecast = committed_model.forecast(**inputs)
    features = input_features(*inputs.values(), committed_model.reference)
    scaled = committed_model.scaler.transform(features)
    expected = first_output(committed_model.forest.predict(scaled))[0]
    assert forecast.score == pytest.approx(expected, abs=TOLERANCE)
    # The band is the 1-day 80 % conformal interval of the card around the forecast.
    low, high = conformal.interval(committed_model.card["conformal"]["tables"]["1"], [forecast.score], 80)
    assert (forecast.band_low, forecast.band_high) == (low[0], high[0])
    assert forecast.band_low < forecast.score < forecast.band_high


def test_feature_row_equals_build_features_bit_for_bit():
    rng = np.random.default_rng(11)
    count = 20000
    volume = np.concatenate([[0.0, 1.0, 1e13], np.exp(rng.uniform(-5, 30, count))])
    mkt_cap = np.concatenate([[1e-3, 65770433.0, 1e14], np.exp(rng.uniform(-5, 32, count))])
    h1 = np.concatenate([[-0.999, 0.0, 10.0], rng.uniform(-1, 10, count)])
    price = np.concatenate([[1.544e-09, 1.0, 1e9], np.exp(rng.uniform(-25, 20, count))])
    matrix = build_features(volume, mkt_cap, h1, price)
    rows = np.array([feature_row(*values) for values in zip(volume.tolist(), mkt_cap.tolist(),
                                                              h1.tolist(), price.tolist())])
    assert np.array_equal(rows, matrix)


def fallback_model(model):
    return LiquidityModel(model.forest, model.scaler, model.card)


def test_missing_onnxruntime_falls_back_to_scikit_learn_and_says_so(committed_model, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` raise ImportError
    with caplog.at_level(logging.WARNING, logger="liquidity.modeling.predict"):
        slow = fallback_model(committed_model)
    assert slow.backend == "scikit-learn"
    assert slow.fast is None
    assert "ONNX Runtime unavailable" in slow.backend_reason
    assert any("scikit-learn" in record.getMessage() and record.levelno == logging.WARNING
               for record in caplog.records)
    frame = raw_rows(committed_model.card, count=400)
    np.testing.assert_array_equal(slow.predict_frame(frame)["liquidity_score"], sklearn_scores(slow, frame))
    assert slow.predict_one(35e9, 770e9, 0.022, 40859.46).score == pytest.approx(
        committed_model.predict_one(35e9, 770e9, 0.022, 40859.46).score, abs=TOLERANCE)
    trees = slow.tree_scores(input_features(35e9, 770e9, 0.022, 40859.46, slow.reference))
    assert trees.shape == (committed_model.fast.n_trees, 1)


def test_a_fast_path_that_disagrees_with_scikit_learn_is_not_used(committed_model, monkeypatch, caplog):
    slow = fallback_model(committed_model)
    monkeypatch.setattr(fastpath, "TOLERANCE", -1.0)  # no difference is small enough
    with caplog.at_level(logging.WARNING, logger="liquidity.modeling.predict"):
        score = slow.predict_one(35e9, 770e9, 0.022, 40859.46).score
    assert slow.backend == "scikit-learn"
    assert "disagrees" in slow.backend_reason
    assert any("disagrees" in record.getMessage() for record in caplog.records)
    assert score == pytest.approx(committed_model.predict_one(35e9, 770e9, 0.022, 40859.46).score, abs=TOLERANCE)


def test_a_conversion_failure_falls_back(committed_model, monkeypatch):
    def broken(forest, per_tree=False, first_output=False):
        raise ValueError("unexpected tree layout")

    monkeypatch.setattr(fastpath, "ensemble_proto", broken)
    slow = fallback_model(committed_model)
    assert slow.backend == "scikit-learn"
    assert "unexpected tree layout" in slow.backend_reason
    assert slow.predict_one(35e9, 770e9, 0.022, 40859.46).score == pytest.approx(
        committed_model.predict_one(35e9, 770e9, 0.022, 40859.46).score, abs=TOLERANCE)


def test_an_unknown_scaler_is_not_compiled(committed_model):
    from sklearn.preprocessing import MinMaxScaler

    fast, reason = fastpath.compile_forest(committed_model.forest, MinMaxScaler())
    assert fast is None
    assert "not a StandardScaler" in reason


@pytest.mark.parametrize("trees", [1, 2, 7, 300])
def test_partial_sort_percentiles_equal_numpys(trees):
    matrix = np.random.default_rng(trees).normal(size=(200, trees))
    matrix[:5] = 0.25  # ties
    for percentiles in ([10, 90], [0, 50, 100], [33.3, 66.7]):
        expected = np.percentile(matrix, percentiles, axis=1)
        assert np.array_equal(fastpath.row_percentiles(matrix, percentiles), expected)
        one_by_one = [fastpath.one_row_percentiles(sorted(row.tolist()), percentiles) for row in matrix]
        assert np.array_equal(np.array(one_by_one).T, expected)  # the one-row path: the same bits


FORK_SCRIPT = """
import os, sys
from liquidity.modeling.predict import LiquidityModel
model = LiquidityModel.load()  # as gunicorn's preload_app does in the master
assert "onnxruntime" not in sys.modules, "onnxruntime imported before the fork"
assert model.backend == "onnxruntime" and not model.fast.started
children = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:  # a worker: scores, then exits as a recycled gunicorn worker does
        model.predict_one(35e9, 770e9, 0.022, 40859.46)
        model.predict_scores([[1.0, 2.0, 3.0, 0.0, 1.0, 0.5] + [float("nan")] * 8] * 1000)
        sys.exit(0 if model.fast.started else 3)
    children.append(pid)
print(sorted(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children))
"""


@pytest.mark.slow
def test_forked_workers_score_with_onnxruntime_and_exit_cleanly():
    result = subprocess.run([sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[0, 0]", result.stderr


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("bad", [np.inf, -np.inf, 1e300])
def test_infinite_features_are_refused_as_scikit_learn_refuses_them(committed_model, bad):
    features = input_features([1e6, 2e6], [1e8, 1e9], [0.0, 0.01], [1.0, 2.0], committed_model.reference)
    features[1, 0] = bad
    with pytest.raises(ValueError):
        committed_model.forest.predict(committed_model.scaler.transform(features))
    with pytest.raises(ValueError, match="infinity"):
        committed_model.predict_scores(features)


def test_missing_values_take_the_branch_scikit_learn_sends_them_to(model):
    model.warm_up()
    rows = threshold_rows(model)[:2000].astype(np.float64)
    rng = np.random.default_rng(5)
    rows[rng.random(rows.shape) < 0.3] = np.nan
    expected = model.forest.predict(rows.astype(np.float32))
    assert np.max(np.abs(model.fast.predict_scaled(rows) - expected)) <= TOLERANCE
    features = input_features([1e6, 2e6], [1e8, 1e9], [0.0, np.nan], [1.0, 2.0], model.reference)
    np.testing.assert_allclose(model.predict_scores(features),
                               first_output(model.forest.predict(model.scaler.transform(features))), rtol=0,
                               atol=TOLERANCE)


def test_one_row_score_is_the_full_models_first_column_bit_for_bit(model):
    """predict_row runs a model of the first output's trees only; it must give the float the full model gives."""
    model.warm_up()
    rows = threshold_rows(model)[:1500].astype(np.float64)
    rows[np.random.default_rng(11).random(rows.shape) < 0.3] = np.nan  # history missing, as on the four-input path
    unscaled = rows * model.fast.scale + model.fast.mean
    full = first_output(model.fast.predict(unscaled))
    one_row = np.array([model.fast.predict_row(row) for row in unscaled])
    assert one_row.tolist() == full.tolist()
    assert np.max(np.abs(one_row - first_output(model.forest.predict(model.scaler.transform(unscaled))))) <= TOLERANCE


def test_forecast_scores_from_the_per_tree_run_equal_predict_one_and_scikit_learn(model):
    frame = raw_rows(model.card, count=2000, seed=19)
    rows = frame[list(INPUT_COLUMNS)].itertuples(index=False)
    forecasts = [model.forecast(*row) for row in rows]
    one_row = [model.predict_one(*row).score for row in frame[list(INPUT_COLUMNS)].itertuples(index=False)]
    assert [f.score for f in forecasts] == one_row  # the same float, not just close
    assert np.max(np.abs(np.array(one_row) - sklearn_scores(model, frame))) <= TOLERANCE
    assert all(f.band_low <= f.band_high for f in forecasts)


def test_rows_with_nan_in_every_feature_at_and_around_thresholds_route_as_scikit_learn(model):
    """Each feature missing in turn, at, just below and just above every threshold of the others."""
    model.warm_up()
    rows = threshold_rows(model).astype(np.float64)
    for feature in range(len(FEATURE_NAMES)):
        missing = rows.copy()
        missing[:, feature] = np.nan
        expected = model.forest.predict(missing.astype(np.float32))
        assert np.max(np.abs(model.fast.predict_scaled(missing) - expected)) <= TOLERANCE, FEATURE_NAMES[feature]
    everything = np.full((3, len(FEATURE_NAMES)), np.nan)
    assert np.max(np.abs(model.fast.predict_scaled(everything) - model.forest.predict(everything))) <= TOLERANCE


def test_history_rows_score_and_band_as_scikit_learn(snapshots_dir, model):
    from liquidity.dataset import load_snapshots

    frame = load_snapshots(snapshots_dir).frame
    fast = model.forecast_snapshots(frame)
    slow = LiquidityModel(model.forest, model.scaler, model.card)
    slow.fast, slow.backend = None, "scikit-learn"
    reference = slow.forecast_snapshots(frame)
    for column in ("forecast_score", "band_low", "band_high"):
        assert np.max(np.abs(fast[column] - reference[column])) <= TOLERANCE
