"""GET /monitor: per horizon, the model's realized accuracy against persistence and its intervals' realized
coverage by week; forecasts scored and input drift."""

from flask import Blueprint, render_template

from liquidity.monitoring import INPUT_NAMES
from liquidity.web import current_market, current_model
from liquidity.web.charts import bar_chart, line_chart
from liquidity.web.extensions import prediction_logs

bp = Blueprint("monitor", __name__)

DRIFT_CSS = {"volume": "s-volume", "mkt_cap": "s-mkt-cap", "1h": "s-h1", "price": "s-price"}
INPUT_TITLES = {"volume": "24h volume", "mkt_cap": "market cap", "1h": "1h change", "price": "price"}
COVERAGE_CSS = {80: "s-model", 90: "s-mkt-cap"}
GOAL_CSS = "s-persistence"  # dashed grey: a reference line, as persistence is on the MAE chart


def percent(value):
    return f"{value * 100:.0f} %"


def days_ahead(horizon):
    return "1 day ahead" if horizon == 1 else f"{horizon} days ahead"


def horizon_charts(entry, goal, levels):
    """Return the charts of one horizon: weekly MAE of model and persistence, weekly coverage with its goal."""
    weeks = entry["weeks"]
    labels = [week["week"] for week in weeks]
    title = days_ahead(entry["horizon"])
    charts = {}
    if any(week["scored"] for week in weeks):
        charts["mae"] = line_chart(f"Mean absolute error by week, {title}: model and persistence", labels, [
            ("model", "s-model", [w["model_mae"] for w in weeks]),
            ("persistence (score then = today's)", "s-persistence", [w["persistence_mae"] for w in weeks])],
            y_min=0.0)
    if any(week[f"rows{level}"] for week in weeks for level in levels):
        charts["coverage"] = line_chart(
            f"Share of outcomes inside the interval by week, {title}", labels,
            [(f"{level} % interval", COVERAGE_CSS.get(level, "s-price"), [w[f"coverage{level}"] for w in weeks])
             for level in levels] + [(f"goal of the 80 % interval ({goal:.0%})", GOAL_CSS, [goal] * len(weeks))],
            y_min=0.0, y_max=1.0, tick_format=percent)
    return charts


@bp.get("/monitor")
def index():
    """Show, per horizon, realized accuracy and interval coverage by week; forecasts scored and input drift."""
    current_model()  # 503 first when the model is not loaded
    data = current_market().monitor()
    weeks = data["accuracy"]["weeks"]
    charts = {}
    if weeks:
        labels = [week["week"] for week in weeks]
        charts["accuracy"] = line_chart("High/Low accuracy by week, 1 day ahead: model and persistence", labels, [
            ("model", "s-model", [w["model_accuracy"] for w in weeks]),
            ("persistence", "s-persistence", [w["persistence_accuracy"] for w in weeks])],
            y_min=0.0, y_max=1.0, tick_format=percent)
        charts["scored"] = bar_chart("Forecasts 1 day ahead scored by week", labels, [w["scored"] for w in weeks])
    horizons = [(entry, days_ahead(entry["horizon"]), horizon_charts(entry, data["coverage_goal"], data["levels"]))
                for entry in data["horizons"]]
    drift_weeks = data["drift"]["weeks"]
    if drift_weeks:
        charts["drift"] = line_chart("Share of logged inputs outside the training range, by week",
                                     [w["week"] for w in drift_weeks],
                                     [(INPUT_TITLES[name], DRIFT_CSS[name], [w[name] for w in drift_weeks])
                                      for name in INPUT_NAMES], y_min=0.0, y_max=1.0, tick_format=percent)
    return render_template("monitor/index.html", data=data, charts=charts, horizons=horizons,
                           input_names=INPUT_NAMES, input_titles=INPUT_TITLES, log_state=prediction_logs.log_state())
