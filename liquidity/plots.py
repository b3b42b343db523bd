"""Figures for the EDA report and the notebooks: each function returns one matplotlib Figure.

Figures are built with the object-oriented API (matplotlib.figure.Figure, rendered by Agg when saved),
never pyplot: no global state, nothing to close, and the same objects display inline in a notebook.
Needs the development requirements (matplotlib).
"""

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.stats import gaussian_kde

from liquidity.features import FEATURE_NAMES, features_from_frame

# A column is drawn on a log axis when its positive values span at least this many powers of ten.
LOG_AXIS_DECADES = 3.0
# On a linear axis, a few extreme rows would squeeze the rest into one bar: when the full range is more
# than TAIL_SQUEEZE times the range of the central TAIL_KEPT share, draw that central range only.
TAIL_SQUEEZE = 2.0
TAIL_KEPT = 0.99
# A KDE costs rows x grid points: above KDE_SAMPLE_SIZE values (the daily history has 779,276 rows) the curve is
# estimated on a seeded sample, which draws the same shape in a fraction of the time; the bars count every value.
KDE_SAMPLE_SIZE = 50_000
KDE_SEED = 0
FIGURE_SIZE = (6.4, 4.0)
DPI = 96
BAR_COLOUR = "#4c72b0"
LINE_COLOUR = "#c44e52"
MODEL_COLOURS = {"random_forest": "#4c72b0", "persistence": "#8c8c8c", "linear_regression": "#dd8452"}
MODEL_LABELS = {"random_forest": "random forest", "persistence": "persistence", "linear_regression": "linear"}


def new_figure(size=FIGURE_SIZE):
    """Return an empty Figure and its one Axes."""
    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    return figure, figure.add_subplot()


def save_figure(figure, path):
    """Write figure to path (PNG or SVG by suffix) without a timestamp, so rebuilds are byte-stable."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"Software": None} if path.suffix == ".png" else {"Date": None}
    figure.savefig(path, dpi=DPI, metadata=metadata)
    return path


def decades_spanned(values):
    """Return log10(max / min) of the positive finite values (0 when fewer than two)."""
    values = np.asarray(values, dtype=float)
    positive = values[np.isfinite(values) & (values > 0)]
    if len(positive) < 2:
        return 0.0
    return float(np.log10(positive.max() / positive.min()))


def uses_log_axis(values):
    """Say whether a column belongs on a log axis: never negative and spanning LOG_AXIS_DECADES or more."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return bool(len(values)) and bool((values >= 0).all()) and decades_spanned(values) >= LOG_AXIS_DECADES


def kde_sample(values):
    """Return values, or a seeded sample of KDE_SAMPLE_SIZE of them (in their order) when there are more."""
    values = np.asarray(values, dtype=float)
    if len(values) <= KDE_SAMPLE_SIZE:
        return values
    return values[np.sort(np.random.default_rng(KDE_SEED).choice(len(values), KDE_SAMPLE_SIZE, replace=False))]


def _kde_curve(values, grid, bin_width):
    """Return the KDE of values on grid scaled to histogram counts, or None when it cannot be estimated."""
    if len(values) < 3 or np.ptp(values) == 0:
        return None
    try:
        density = gaussian_kde(kde_sample(values))(grid)
    except np.linalg.LinAlgError:  # all mass on a few points: no covariance to work with
        return None
    return density * len(values) * bin_width


def histogram_with_kde(values, name, unit="", bins=30):
    """Return a histogram of values with a KDE overlay; log axis when the data spans decades.

    On a log axis zeros cannot be drawn: they are left out and counted in the title.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    figure, axes = new_figure()
    log_axis = uses_log_axis(values)
    note = ""
    if log_axis:
        zeros = int((values == 0).sum())
        values = values[values > 0]
        logs = np.log10(values)
        edges = np.linspace(logs.min(), logs.max(), bins + 1)
        axes.hist(values, bins=10 ** edges, color=BAR_COLOUR, alpha=0.75, edgecolor="white", linewidth=0.4)
        axes.set_xscale("log")
        grid = np.linspace(edges[0], edges[-1], 256)
        curve = _kde_curve(logs, grid, edges[1] - edges[0])
        if curve is not None:
            axes.plot(10 ** grid, curve, color=LINE_COLOUR, linewidth=1.6, label="KDE (on log10 values)")
        note = f", log axis ({decades_spanned(values):.1f} decades)"
        if zeros:
            note += f", {zeros} zero(s) not drawn"
    elif len(values):
        low, high = np.quantile(values, [(1 - TAIL_KEPT) / 2, (1 + TAIL_KEPT) / 2])
        if high > low and np.ptp(values) > TAIL_SQUEEZE * (high - low):
            outside = int(((values < low) | (values > high)).sum())
            values = values[(values >= low) & (values <= high)]
            note = f", central {TAIL_KEPT:.0%} shown ({outside} outside)"
        edges = np.histogram_bin_edges(values, bins=bins)
        axes.hist(values, bins=edges, color=BAR_COLOUR, alpha=0.75, edgecolor="white", linewidth=0.4)
        grid = np.linspace(edges[0], edges[-1], 256)
        curve = _kde_curve(values, grid, edges[1] - edges[0])
        if curve is not None:
            axes.plot(grid, curve, color=LINE_COLOUR, linewidth=1.6, label="KDE")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(frameon=False)
    axes.set_title(f"{name}: {len(values)} values drawn{note}", fontsize=10)
    axes.set_xlabel(f"{name} ({unit})" if unit else name)
    axes.set_ylabel("rows")
    return figure


def score_histogram(scores, bins=20):
    """Return the histogram of liquidity scores on [0, 1] with a KDE overlay."""
    scores = np.asarray(scores, dtype=float)
    figure, axes = new_figure()
    edges = np.linspace(0, 1, bins + 1)
    axes.hist(scores, bins=edges, color=BAR_COLOUR, alpha=0.75, edgecolor="white", linewidth=0.4)
    grid = np.linspace(0, 1, 256)
    # Reflect the sample at 0 and 1 so the estimate does not sag at the edges of a bounded score.
    reflected = np.concatenate([scores, -scores, 2 - scores])
    curve = _kde_curve(reflected, grid, edges[1] - edges[0])
    if curve is not None:
        axes.plot(grid, curve, color=LINE_COLOUR, linewidth=1.6, label="KDE (reflected at 0 and 1)")
        axes.legend(frameon=False)
    axes.set_xlim(0, 1)
    axes.set_title(f"liquidity score: {len(scores)} rows (percentile rank within each date)", fontsize=10)
    axes.set_xlabel("liquidity score")
    axes.set_ylabel("rows")
    return figure


def correlation_matrix(pairs):
    """Return the Pearson correlations of the engineered features and the next-snapshot score, as a frame."""
    import pandas as pd

    frame = pd.DataFrame(features_from_frame(pairs), columns=list(FEATURE_NAMES), index=pairs.index)
    frame["next_liquidity_score"] = pairs["next_liquidity_score"]
    return frame.corr(method="pearson")


def correlation_heatmap(correlations):
    """Return a heatmap of a correlation frame with each coefficient written in its cell."""
    names = list(correlations.columns)
    values = correlations.to_numpy()
    figure, axes = new_figure((6.4, 5.4))
    image = axes.imshow(values, cmap="RdBu_r", vmin=-1, vmax=1)
    axes.set_xticks(range(len(names)), names, rotation=35, ha="right")
    axes.set_yticks(range(len(names)), names)
    for row in range(len(names)):
        for column in range(len(names)):
            value = values[row, column]
            text = "n/a" if not np.isfinite(value) else f"{value:.2f}"
            colour = "white" if np.isfinite(value) and abs(value) > 0.6 else "black"
            axes.text(column, row, text, ha="center", va="center", fontsize=8, color=colour)
    figure.colorbar(image, ax=axes, shrink=0.8, label="Pearson r")
    axes.set_title("engineered features and the next-snapshot score", fontsize=10)
    return figure


def importance_chart(importances):
    """Return a horizontal bar chart of feature importances (a name -> value mapping), largest on top."""
    ordered = sorted(importances.items(), key=lambda item: item[1])
    figure, axes = new_figure((6.4, 3.2))
    bars = axes.barh([name for name, _ in ordered], [value for _, value in ordered], color=BAR_COLOUR)
    axes.bar_label(bars, labels=[f"{value:.3f}" for _, value in ordered], padding=3, fontsize=8)
    axes.set_xlim(0, max(1e-9, max(value for _, value in ordered)) * 1.15)
    axes.set_xlabel("impurity importance in the saved forest")
    axes.set_title("feature importances", fontsize=10)
    return figure


def model_comparison_chart(models):
    """Return side-by-side R² and RMSE bars for each model (a name -> metrics mapping)."""
    names = list(models)
    labels = [MODEL_LABELS.get(name, name) for name in names]
    colours = [MODEL_COLOURS.get(name, BAR_COLOUR) for name in names]
    figure = Figure(figsize=(7.2, 3.4), dpi=DPI, layout="constrained")
    for position, (metric, title) in enumerate((("r2", "R² (higher is better)"), ("rmse", "RMSE (lower is better)"))):
        axes = figure.add_subplot(1, 2, position + 1)
        values = [models[name][metric] for name in names]
        bars = axes.bar(labels, values, color=colours)
        axes.bar_label(bars, labels=[f"{value:.3f}" for value in values], padding=2, fontsize=8)
        low = min(0.0, min(values))
        axes.set_ylim(low * 1.15, max(values) * 1.15 if max(values) > 0 else 1)
        axes.axhline(0, color="black", linewidth=0.6)
        axes.set_title(title, fontsize=10)
        axes.tick_params(axis="x", labelsize=8)
    figure.suptitle("held-out (out-of-fold) metrics, coin-grouped CV", fontsize=10)
    return figure


def predicted_vs_actual(actual, predicted, label="random forest"):
    """Return a scatter of out-of-fold predictions against the actual next-snapshot scores."""
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    figure, axes = new_figure((5.2, 5.0))
    axes.scatter(actual, predicted, s=10, alpha=0.5, color=BAR_COLOUR, edgecolors="none")
    axes.plot([0, 1], [0, 1], color=LINE_COLOUR, linewidth=1, label="perfect forecast")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_aspect("equal")
    axes.set_xlabel("actual next-snapshot score")
    axes.set_ylabel(f"predicted ({label}, held out)")
    axes.legend(frameon=False, loc="upper left")
    axes.set_title(f"predicted vs actual: {len(actual)} held-out pairs", fontsize=10)
    return figure


def residual_plot(actual, predicted, label="random forest"):
    """Return residuals (actual - predicted) against the prediction, with a zero line."""
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    residuals = actual - predicted
    figure, axes = new_figure()
    axes.scatter(predicted, residuals, s=10, alpha=0.5, color=BAR_COLOUR, edgecolors="none")
    axes.axhline(0, color=LINE_COLOUR, linewidth=1)
    axes.set_xlim(0, 1)
    bound = max(0.05, float(np.abs(residuals).max()) * 1.05) if len(residuals) else 1
    axes.set_ylim(-bound, bound)
    axes.set_xlabel(f"predicted score ({label}, held out)")
    axes.set_ylabel("residual (actual - predicted)")
    axes.set_title(f"residuals: mean {round(residuals.mean(), 3) + 0.0:+.3f}, sd {residuals.std():.3f}", fontsize=10)
    return figure


def coverage_by_date(inside, dates, what="forecasts", level=80, goal_points=3):
    """Return the share of forecasts inside their interval per forecast date (thin line) and per month (thick).

    inside: one bool per forecast; dates: its forecast date (YYYY-MM-DD). A month's segment spans the dates it
    holds (a dot when one). Shaded: level +- goal_points."""
    inside = pd.Series(np.asarray(inside, dtype=float) * 100)
    days = pd.to_datetime(pd.Series(np.asarray(dates, dtype=str)).str[:10])
    per_date = inside.groupby(days.to_numpy()).mean()
    per_month = inside.groupby(days.dt.to_period("M").to_numpy()).mean()
    months = per_date.index.to_period("M")
    figure, axes = new_figure((9.0, 3.6))
    axes.axhspan(level - goal_points, level + goal_points, color="#55a868", alpha=0.15,
                 label=f"{level} +- {goal_points} %")
    axes.plot(per_date.index, per_date.to_numpy(), color="#8c8c8c", linewidth=0.8, label="one forecast date")
    for month, share in per_month.items():
        held = per_date.index[months == month]
        axes.plot([held[0], held[-1]], [share, share], color=BAR_COLOUR, linewidth=2.5, marker="o" if len(held) == 1
                  else None, label="month" if month == months[0] else None)
    axes.set_ylabel(f"inside the {level} % interval (%)")
    axes.legend(frameon=False, loc="lower left", fontsize=8, ncols=3)
    axes.set_title(f"{what}: share inside their {level} % interval, {len(per_date)} dates in "
                   f"{len(per_month)} months", fontsize=10)
    return figure
