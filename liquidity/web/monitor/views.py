"""GET /monitor: the model's realized accuracy against persistence, forecasts scored and input drift, by week."""

from datetime import date

from flask import Blueprint, render_template

from liquidity.monitoring import INPUT_NAMES, monitor_figures
from liquidity.store import StoreError
from liquidity.web import current_model
from liquidity.web.charts import bar_chart, line_chart
from liquidity.web.extensions import StoreUnavailable, stores

bp = Blueprint("monitor", __name__)

DRIFT_CSS = {"volume": "s-volume", "mkt_cap": "s-mkt-cap", "1h": "s-h1", "price": "s-price"}
INPUT_TITLES = {"volume": "24h volume", "mkt_cap": "market cap", "1h": "1h change", "price": "price"}


def figures():
    """Return the monitor's figures from the current app's store and model (503 when either is unavailable)."""
    model = current_model()
    window = stores.window()
    try:
        # Every logged forecast moves the drift counts: the figures are at most LIQUIDITY_STORE_CHECK_SECONDS old,
        # and recomputed at once when new snapshots land (they score forecasts) or the day changes.
        key = ("monitor", model, window.version, date.today())
        return window.cache.get(key, lambda: monitor_figures(window.store, model), max_age=window.check_every)
    except StoreError as error:
        raise StoreUnavailable(f"The prediction log cannot be read right now: {error}") from None


def percent(value):
    return f"{value * 100:.0f} %"


@bp.get("/monitor")
def index():
    """Show realized accuracy, forecasts scored and input drift by week, each as a chart and a table."""
    data = figures()
    weeks = data["accuracy"]["weeks"]
    labels = [week["week"] for week in weeks]
    charts = {}
    if weeks:
        charts["mae"] = line_chart("Mean absolute error by week: model and persistence", labels, [
            ("model", "s-model", [w["model_mae"] for w in weeks]),
            ("persistence (next score = today's)", "s-persistence", [w["persistence_mae"] for w in weeks])],
            y_min=0.0)
        charts["accuracy"] = line_chart("High/Low accuracy by week: model and persistence", labels, [
            ("model", "s-model", [w["model_accuracy"] for w in weeks]),
            ("persistence", "s-persistence", [w["persistence_accuracy"] for w in weeks])],
            y_min=0.0, y_max=1.0, tick_format=percent)
        charts["scored"] = bar_chart("Forecasts scored by week", labels, [w["scored"] for w in weeks])
    drift_weeks = data["drift"]["weeks"]
    if drift_weeks:
        charts["drift"] = line_chart("Share of logged inputs outside the training range, by week",
                                     [w["week"] for w in drift_weeks],
                                     [(INPUT_TITLES[name], DRIFT_CSS[name], [w[name] for w in drift_weeks])
                                      for name in INPUT_NAMES], y_min=0.0, y_max=1.0, tick_format=percent)
    return render_template("monitor/index.html", data=data, charts=charts, input_names=INPUT_NAMES,
                           input_titles=INPUT_TITLES, log_state=stores.log_state())
