"""Score the verified forest with ONNX Runtime: scikit-learn's exact splits without its per-call overhead.

scikit-learn spends about 15-40 ms per predict() call on input checks and its per-tree parallel
machinery, whatever the number of rows. The forest here is rebuilt, at load time and from the
verified pickles (they stay the source of truth), as one ONNX ``TreeEnsemble`` (ai.onnx.ml opset 5)
in double precision and run by ONNX Runtime: about 0.01 ms for one row.

Exactness: a scikit-learn tree casts its input to float32 and compares it with float64 thresholds.
The same happens here: scale in float64 with StandardScaler's formula ``(x - mean_) / scale_``,
round to float32, widen back to float64, compare with the float64 thresholds. Leaf values are
float64 too, so scores equal scikit-learn's up to the order of summing the trees (~1e-16).
An ONNX model in float32 would round the thresholds and flip splits for inputs at a threshold.

Fork safety: merely importing onnxruntime starts a native thread, and a forked child that inherited
it aborts or hangs when it exits (seen with gunicorn's preload_app: every recycled worker hung until
gunicorn killed it 30 s later). So the ONNX model is built at load time with the ``onnx`` package
only (no threads), and onnxruntime is imported, its sessions created and checked against
scikit-learn's predictions on the check rows, on first use in each process (``FastForest.start``).

A multi-output forest (one output per forecast horizon) becomes one TreeEnsemble with one target per
output: a TreeEnsemble leaf feeds a single target, so each tree appears once per output, its leaves
carrying that output's values; the splits are the same, so each output equals scikit-learn's column.
ONNX Runtime's average divides by every tree of the ensemble, copies included, so a multi-output
forest sums leaf values pre-divided by the number of trees instead (equal up to rounding, ~1e-16).
The per-tree model (the trees' spread) covers the first output, the 1-day forecast.

When ONNX Runtime is missing, the forest cannot be converted, or the rebuilt forest disagrees with
scikit-learn on the check rows, the model scores with scikit-learn and says why.
"""

import importlib.util
import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

log = logging.getLogger(__name__)

ONNXRUNTIME = "onnxruntime"
SCIKIT_LEARN = "scikit-learn"
# Largest |fast - scikit-learn| accepted on the check rows; the tests hold the same bound.
TOLERANCE = 1e-6
# Rows per ONNX Runtime call for per-tree scores: bounds memory at n_trees * CHUNK doubles.
TREE_CHUNK = 8192
# Below this many rows threads and sorting cost more than they save.
SMALL_BATCH = 256
# Threads for big batches; ONNX Runtime releases the GIL while it scores.
MAX_WORKERS = 4
BRANCH_LEQ = 0  # TreeEnsemble node mode: go to the true branch when x <= threshold, as scikit-learn does
AVERAGE, SUM = 0, 1  # TreeEnsemble aggregate_function


class FastPathError(RuntimeError):
    """The forest cannot be scored outside scikit-learn."""


def scaler_arrays(scaler, n_features):
    """Return StandardScaler's mean_ and scale_ as float64 arrays (0 and 1 where it does not centre/scale)."""
    if type(scaler).__name__ != "StandardScaler":
        raise FastPathError(f"scaler is a {type(scaler).__name__}, not a StandardScaler")
    mean = getattr(scaler, "mean_", None) if scaler.with_mean else None
    scale = getattr(scaler, "scale_", None) if scaler.with_std else None
    mean = np.zeros(n_features) if mean is None else np.asarray(mean, dtype=np.float64)
    scale = np.ones(n_features) if scale is None else np.asarray(scale, dtype=np.float64)
    if mean.shape != (n_features,) or scale.shape != (n_features,):
        raise FastPathError("scaler and forest disagree on the number of features")
    return mean, scale


def ensemble_proto(forest, per_tree=False, first_output=False):
    """Return the forest as an ONNX TreeEnsemble model: the average score of each output (first_output: of the first
    output only, summed as the full model sums it), or one output per tree of the first output."""
    from onnx import TensorProto, helper, numpy_helper

    if type(forest).__name__ != "RandomForestRegressor":
        raise FastPathError(f"model is a {type(forest).__name__}, not a RandomForestRegressor")
    n_outputs = int(getattr(forest, "n_outputs_", 1))
    # Built with numpy per tree, not per node: a deep forest has hundreds of thousands of nodes and this
    # runs at every model load.
    roots, features, splits, missing_left = [], [], [], []  # missing_left: where NaN goes, as scikit-learn decided
    true_ids, true_leafs, false_ids, false_leafs, leaf_targets, leaf_weights = [], [], [], [], [], []
    n_interior = n_leaves = 0
    copies = [(output, number, estimator) for output in range(1 if per_tree or first_output else n_outputs)
              for number, estimator in enumerate(forest.estimators_)]
    for output, number, estimator in copies:
        tree = estimator.tree_
        left, right = tree.children_left, tree.children_right
        values = tree.value[:, output, 0]
        is_leaf = left == -1
        interior = np.flatnonzero(~is_leaf)
        leaves = np.flatnonzero(is_leaf)
        target = number if per_tree else output
        if not len(interior):  # a one-leaf tree: a dummy split whose branches both reach the leaf
            roots.append(n_interior)
            features.append(np.zeros(1, dtype=np.int64))
            splits.append(np.zeros(1))
            missing_left.append(np.ones(1, dtype=np.int64))
            for ids, leaf in ((true_ids, true_leafs), (false_ids, false_leafs)):
                ids.append(np.array([n_leaves]))
                leaf.append(np.ones(1, dtype=np.int64))
            leaf_targets.append(np.array([target]))
            leaf_weights.append(values[:1].astype(np.float64))
            n_interior, n_leaves = n_interior + 1, n_leaves + 1
            continue
        # TreeEnsemble numbers interior nodes and leaves separately, across all trees.
        ids = np.zeros(tree.node_count, dtype=np.int64)
        ids[interior] = n_interior + np.arange(len(interior))
        ids[leaves] = n_leaves + np.arange(len(leaves))
        roots.append(int(ids[0]))
        go_left = getattr(tree, "missing_go_to_left", np.ones(tree.node_count, dtype=np.uint8))
        features.append(tree.feature[interior].astype(np.int64))
        splits.append(tree.threshold[interior].astype(np.float64))
        missing_left.append(np.asarray(go_left)[interior].astype(np.int64))
        for children, ids_out, leaf_out in ((left[interior], true_ids, true_leafs),
                                            (right[interior], false_ids, false_leafs)):
            ids_out.append(ids[children])
            leaf_out.append(is_leaf[children].astype(np.int64))
        leaf_targets.append(np.full(len(leaves), target))
        leaf_weights.append(values[leaves].astype(np.float64))
        n_interior, n_leaves = n_interior + len(interior), n_leaves + len(leaves)

    def joined(parts):
        return np.concatenate(parts).tolist()

    features, missing_left = joined(features), joined(missing_left)
    true_ids, true_leafs, false_ids, false_leafs = map(joined, (true_ids, true_leafs, false_ids, false_leafs))
    leaf_targets = joined(leaf_targets)
    splits, leaf_weights = np.concatenate(splits), np.concatenate(leaf_weights)

    n_targets = len(forest.estimators_) if per_tree else 1 if first_output else n_outputs
    averaged_by_sum = not per_tree and n_outputs > 1  # first_output too: the same sums as the full model's first column
    if averaged_by_sum:
        leaf_weights = leaf_weights / len(forest.estimators_)
    node = helper.make_node(
        "TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml",
        aggregate_function=SUM if per_tree or averaged_by_sum else AVERAGE, n_targets=n_targets, post_transform=0,
        tree_roots=roots, nodes_featureids=features,
        nodes_splits=numpy_helper.from_array(splits),
        nodes_modes=numpy_helper.from_array(np.full(len(features), BRANCH_LEQ, dtype=np.uint8)),
        nodes_truenodeids=true_ids, nodes_trueleafs=true_leafs,
        nodes_falsenodeids=false_ids, nodes_falseleafs=false_leafs, nodes_missing_value_tracks_true=missing_left,
        leaf_targetids=leaf_targets, leaf_weights=numpy_helper.from_array(leaf_weights),
    )
    graph = helper.make_graph(
        [node], "random_forest",
        [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, forest.n_features_in_])],
        [helper.make_tensor_value_info("Y", TensorProto.DOUBLE, [None, n_targets])],
    )
    return helper.make_model(graph, ir_version=10, producer_name="liquidity.modeling.fastpath",
                             opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])


def _session(model_bytes):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # One thread per call: a single row then runs on the caller's thread with no pool to wake, and
    # batches are split across threads here, where the rows can be sorted first.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


class FastForest:
    """A RandomForestRegressor and its StandardScaler run by ONNX Runtime, equal to scikit-learn's predictions."""

    backend = ONNXRUNTIME

    def __init__(self, forest, scaler, workers=None):
        started = time.perf_counter()
        self.n_features = forest.n_features_in_
        self.n_trees = len(forest.estimators_)
        self.n_outputs = int(getattr(forest, "n_outputs_", 1))
        self.mean, self.scale = scaler_arrays(scaler, self.n_features)
        # Rows sorted by the feature the trees compare most often take similar paths one after another:
        # the CPU's branch predictor and caches then score 1.5-3x the rows per second, same results.
        self.sort_feature = most_compared_feature(forest)
        self.workers = max(1, min(os.cpu_count() or 1, MAX_WORKERS) if workers is None else workers)
        self._score_bytes = ensemble_proto(forest).SerializeToString()
        self._tree_bytes = ensemble_proto(forest, per_tree=True).SerializeToString()
        # One row asks for the 1-day forecast alone: a model of the first output's trees walks a third of the nodes
        # of a three-horizon forest, and on a server's cold caches that is most of a row's time (~170 -> ~80 us).
        self._first_bytes = (ensemble_proto(forest, first_output=True).SerializeToString() if self.n_outputs > 1
                             else self._score_bytes)
        self._check_rows = check_rows(forest, self.n_features)
        self._check_scores = forest.predict(self._check_rows.astype(np.float32))
        self.build_ms = (time.perf_counter() - started) * 1000
        self._pid = None  # the process whose sessions these are
        self.version = self.difference = None

    @property
    def started(self):
        """True when this process has its sessions, checked against scikit-learn."""
        return self._pid == os.getpid()

    def start(self):
        """Import onnxruntime, create this process's sessions and check them; raise FastPathError if unusable."""
        started = time.perf_counter()
        try:
            import onnxruntime
        except ImportError as error:
            raise FastPathError(f"ONNX Runtime unavailable ({error})") from None
        try:
            score_session, tree_session = _session(self._score_bytes), _session(self._tree_bytes)
            first_session = score_session if self._first_bytes is self._score_bytes else _session(self._first_bytes)
            got = self._shaped(score_session.run(None, {"X": self._check_rows})[0])
            first_got = first_session.run(None, {"X": self._check_rows})[0][:, 0]
        except Exception as error:  # a runtime that cannot load or run the model: fall back, do not crash
            raise FastPathError(f"ONNX Runtime cannot run the forest ({error.__class__.__name__}: {error})") from None
        expected_first = self._check_scores if self.n_outputs == 1 else self._check_scores[:, 0]
        difference = max(float(np.max(np.abs(got - self._check_scores))),
                         float(np.max(np.abs(first_got - expected_first))))
        if not difference <= TOLERANCE:
            raise FastPathError(f"ONNX Runtime disagrees with scikit-learn by {difference:.3g} on the check rows")
        self._score_session, self._tree_session, self._first_session = score_session, tree_session, first_session
        self.version, self.difference = onnxruntime.__version__, difference
        self.start_ms = (time.perf_counter() - started) * 1000
        self._pid = os.getpid()

    def describe(self):
        """Say what runs, as shown by /healthz."""
        if not self.started:
            return (f"ONNX model of {self.n_trees} trees x {self.n_outputs} output(s) in float64 built in "
                    f"{self.build_ms:.0f} ms;"
                    " onnxruntime starts and is checked on first use in each process")
        return (f"onnxruntime {self.version}, {self.n_trees} trees x {self.n_outputs} output(s) in float64, built in "
                f"{self.build_ms:.0f} ms,"
                f" started in {self.start_ms:.0f} ms, max |diff| {self.difference:.1e} vs scikit-learn"
                f" on {len(self._check_rows)} check rows")

    def scaled(self, features):
        """Return features scaled like StandardScaler, rounded to float32 like a scikit-learn tree, as float64."""
        features = np.asarray(features, dtype=np.float64).reshape(-1, self.n_features)
        with np.errstate(over="ignore"):  # too large for float32 becomes inf, refused just below
            scaled = ((features - self.mean) / self.scale).astype(np.float32)
        if np.isinf(scaled).any():  # scikit-learn refuses these (NaN it routes); a tree ensemble would score them
            raise ValueError("Input contains infinity or a value too large for float32.")
        return scaled.astype(np.float64)

    def _map_rows(self, scaled, score_chunk, chunk_rows):
        """Apply score_chunk to the rows sorted by sort_feature, chunk by chunk on threads; return input order."""
        count = len(scaled)
        if count < SMALL_BATCH:
            return score_chunk(scaled)
        order = np.argsort(scaled[:, self.sort_feature], kind="stable")
        ordered = scaled[order]
        size = min(chunk_rows, -(-count // self.workers))
        chunks = [ordered[start:start + size] for start in range(0, count, size)]
        if self.workers > 1 and len(chunks) > 1:
            # A pool per call, not per process: nothing to break when gunicorn forks after loading.
            with ThreadPoolExecutor(self.workers) as pool:
                results = list(pool.map(score_chunk, chunks))
        else:
            results = [score_chunk(chunk) for chunk in chunks]
        result = np.concatenate(results)
        unsorted = np.empty_like(result)
        unsorted[order] = result
        return unsorted

    def _shaped(self, outputs):
        """Return the session's (n, outputs) scores shaped as scikit-learn's predict: 1-D for one output."""
        return outputs[:, 0] if self.n_outputs == 1 else outputs

    def _scores(self, rows):
        return self._shaped(self._score_session.run(None, {"X": rows})[0])

    def _tree_matrix(self, rows):
        return self._tree_session.run(None, {"X": rows})[0]

    def predict_scaled(self, scaled):
        """Return the forest's scores for already scaled, float32-valued rows, shaped as the forest's predict."""
        return self._map_rows(scaled, self._scores, chunk_rows=len(scaled))

    def predict(self, features):
        """Return the forest's scores for an (n, features) matrix of unscaled features, shaped as its predict."""
        return self.predict_scaled(self.scaled(features))

    def _scaled_row(self, row):
        scaled = ((np.array(row, dtype=np.float64) - self.mean) / self.scale).astype(np.float32)
        return scaled.astype(np.float64).reshape(1, -1)

    def predict_row(self, row):
        """Return the first output's score (the 1-day forecast) of one row of unscaled features."""
        return float(self._first_session.run(None, {"X": self._scaled_row(row)})[0][0, 0])

    def predict_outputs_row(self, row):
        """Return every output's score (one per horizon) of one row of unscaled features, as a list of floats."""
        return self._score_session.run(None, {"X": self._scaled_row(row)})[0][0].tolist()

    def score_and_percentiles_row(self, row, percentiles):
        """Return (first output's score, percentiles of the trees' scores) for one row from a single per-tree run.

        The trees are summed in order, as scikit-learn's forest accumulates them, so the score is the
        one predict_row gives (a test checks they are equal).
        """
        values = self._tree_matrix(self._scaled_row(row))[0].tolist()
        total = 0.0
        for value in values:  # in tree order, as np.cumsum and scikit-learn's forest add them
            total += value
        return total / len(values), one_row_percentiles(sorted(values), percentiles)

    def tree_scores_scaled(self, scaled):
        """Return an (n_trees, n) matrix of each tree's first-output score for already scaled rows."""
        if not len(scaled):
            return np.empty((self.n_trees, 0))
        return self._map_rows(scaled, self._tree_matrix, chunk_rows=TREE_CHUNK).T

    def tree_scores(self, features):
        """Return an (n_trees, n) matrix of each tree's score for unscaled features."""
        return self.tree_scores_scaled(self.scaled(features))

    def tree_percentiles(self, features, percentiles):
        """Return the given percentiles of the trees' scores, one row per percentile, without holding all trees."""
        scaled = self.scaled(features)
        if not len(scaled):
            return np.empty((len(percentiles), 0))

        def chunk_percentiles(rows):
            return row_percentiles(self._tree_matrix(rows), percentiles).T

        return self._map_rows(scaled, chunk_percentiles, chunk_rows=TREE_CHUNK).T


def row_percentiles(matrix, percentiles):
    """Return np.percentile(matrix, percentiles, axis=1) ("linear" method) from a partial sort, 4x faster.

    Shape (len(percentiles), rows). Same interpolation as numpy's, including its form for weights >= 0.5.
    """
    count = matrix.shape[1]
    positions = np.asarray(percentiles, dtype=np.float64) / 100 * (count - 1)
    below = np.floor(positions).astype(np.intp)
    above = np.minimum(below + 1, count - 1)
    weight = (positions - below)[:, None]
    ordered = np.partition(matrix, np.unique(np.concatenate([below, above])), axis=1)
    low, high = ordered[:, below].T, ordered[:, above].T
    step = high - low
    return np.where(weight >= 0.5, high - step * (1 - weight), low + step * weight)


def one_row_percentiles(ordered, percentiles):
    """Return row_percentiles for one row given as a sorted list of floats: the same arithmetic, bit for bit, with
    Python floats instead of numpy calls (a third of a one-row forecast's time went to numpy's call overhead)."""
    count = len(ordered)
    result = []
    for percentile in percentiles:
        position = float(percentile) / 100 * (count - 1)
        below = math.floor(position)
        above = min(below + 1, count - 1)
        weight = position - below
        low, high = ordered[below], ordered[above]
        step = high - low
        result.append(high - step * (1 - weight) if weight >= 0.5 else low + step * weight)
    return result


def most_compared_feature(forest):
    """Return the feature compared most often when the training rows run down the trees."""
    visits = np.zeros(forest.n_features_in_)
    for estimator in forest.estimators_:
        tree = estimator.tree_
        interior = tree.children_left != -1
        visits += np.bincount(tree.feature[interior], weights=tree.n_node_samples[interior],
                              minlength=forest.n_features_in_)
    return int(np.argmax(visits))


def check_rows(forest, n_features, count=512, seed=0):
    """Return scaled float32 rows that probe the forest's splits: at, just below and above thresholds, and beyond."""
    thresholds = np.concatenate([estimator.tree_.threshold[estimator.tree_.children_left != -1]
                                 for estimator in forest.estimators_] or [np.zeros(1)])
    # A split that only separates missing from present values has an infinite threshold: no row sits at it.
    thresholds = thresholds[np.isfinite(thresholds)]
    rng = np.random.default_rng(seed)
    low, high = (thresholds.min(), thresholds.max()) if len(thresholds) else (-1.0, 1.0)
    spread = max(high - low, 1.0)
    rows = rng.uniform(low - spread, high + spread, size=(count, n_features))
    at = np.float32(rng.choice(thresholds, size=(count, n_features)))
    edges = np.concatenate([at, np.nextafter(at, np.float32(-np.inf)), np.nextafter(at, np.float32(np.inf))])
    checked = np.concatenate([rows.astype(np.float32), edges]).astype(np.float64)
    # Missing values: each feature missing alone, then a random share missing, so every NaN route is tried.
    missing = checked[: count * 2].copy()
    missing[np.arange(len(missing)), np.arange(len(missing)) % n_features] = np.nan
    some = checked[count * 2: count * 4].copy()
    some[rng.random(some.shape) < 0.3] = np.nan
    everything = np.full((1, n_features), np.nan)
    return np.concatenate([checked, missing, some, everything])


def compile_forest(forest, scaler):
    """Return (FastForest, description) or (None, why not). Does not import onnxruntime (see the module doc)."""
    if importlib.util.find_spec("onnxruntime") is None:
        return None, "ONNX Runtime unavailable (onnxruntime is not installed)"
    try:
        fast = FastForest(forest, scaler)
    except ImportError as error:
        return None, f"ONNX model builder unavailable ({error})"
    except FastPathError as error:
        return None, str(error)
    except Exception as error:  # a conversion failure must not stop the app: fall back
        return None, f"building the ONNX model failed ({error.__class__.__name__}: {error})"
    return fast, fast.describe()
