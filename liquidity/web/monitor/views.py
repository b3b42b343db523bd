"""GET /monitor: the model's realized accuracy against persistence, forecasts scored and input drift, by week."""

from flask import Blueprint, render_template

from liquidity.monitoring import INPUT_NAMES
from liquidity.web import current_market, current_model
from liquidity.web.charts import bar_chart, line_chart
from liquidity.web.extensions import prediction_logs

bp = Blueprint("monitor", __name__)

DRIFT_CSS = {"volume": "s-volume", "mkt_cap": "s-mkt-cap", "1h": "s-h1", "price": "s-price"}
INPUT_TITLES = {"volume": "24h volume", "mkt_cap": "market cap", "1h": "1h change", "price": "price"}


def percent(value):
    return f"{value * 100:.0f} %"


@bp.get("/monitor")
def index():
    """Show realized accuracy, forecasts scored and input drift by week, each as a chart and a table."""
    current_model()  # 503 first when the model is not loaded
    data = current_market().monitor()
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
                           input_titles=INPUT_TITLES, log_state=prediction_logs.log_state())
