"""GET /monitor: one plain sentence on how the forecasts turned out, then per horizon the model's realized accuracy
against persistence and its intervals' realized coverage by week; forecasts scored and input drift; the backtest of
the current model over the stored history, apart. POST /monitor/backtest runs that backtest."""

import logging
import threading
from datetime import UTC, datetime

from flask import Blueprint, abort, redirect, render_template, url_for

from liquidity.monitoring import INPUT_NAMES
from liquidity.web import current_market, current_model
from liquidity.web.charts import bar_chart, line_chart
from liquidity.web.extensions import prediction_logs

bp = Blueprint("monitor", __name__)

log = logging.getLogger("liquidity.web")


class BackgroundBacktest:
    """The backtest this process runs off the request's path (a long history takes longer than a worker may spend on
    one request), one at a time: a second click while one runs would only redo the same work."""

    def __init__(self):
        self._lock = threading.Lock()
        self.thread = None
        self.started_at = None
        self.failure = None  # the last run's error, in one line, until the next run starts

    def running(self):
        """Return True while a backtest of this process runs."""
        return self._lock.locked()

    def start(self, store, model):
        """Start backtesting model over store's history in a thread; return False when one is running already."""
        if not self._lock.acquire(blocking=False):
            return False
        self.started_at, self.failure = datetime.now(UTC).strftime("%H:%M UTC"), None
        self.thread = threading.Thread(target=self._run, args=(store, model), name="backtest", daemon=True)
        self.thread.start()
        return True

    def _run(self, store, model):
        from liquidity.backtest import run_backtest

        try:
            log.info("%s", run_backtest(store, model).summary())
        except Exception as error:  # said on the page; the server goes on serving
            self.failure = str(error).splitlines()[0] if str(error) else error.__class__.__name__
            log.exception("backtest failed")
        finally:
            self._lock.release()

    def wait(self, timeout=None):
        """Wait for the running backtest to end (tests); return True when none runs."""
        thread = self.thread
        if thread is not None:
            thread.join(timeout)
        return not self.running()


backtests = BackgroundBacktest()

DRIFT_CSS = {"volume": "s-volume", "mkt_cap": "s-mkt-cap", "1h": "s-h1", "price": "s-price"}
INPUT_TITLES = {"volume": "24h volume", "mkt_cap": "market cap", "1h": "1h change", "price": "price"}
COVERAGE_CSS = {80: "s-model", 90: "s-mkt-cap"}
GOAL_CSS = "s-persistence"  # dashed grey: a reference line, as persistence is on the MAE chart


def percent(value):
    return f"{value * 100:.0f} %"


def days_ahead(horizon):
    return "1 day ahead" if horizon == 1 else f"{horizon} days ahead"


def same_as_today(horizon):
    """Return persistence's rule in words: "tomorrow = today" for 1 day ahead, "in 7 days = today" for 7."""
    return "tomorrow = today" if horizon == 1 else f"in {horizon} days = today"


def rounded_percent(share):
    """Return a share as a whole percent, or with one decimal when the whole one would read 0 % for a change."""
    text = f"{share * 100:.0f}"
    return f"{share * 100:.1f} %" if text in ("0", "-0") and share else f"{text} %"


def plain_sentence(recent, horizon):
    """Return the monitor's sentence for one horizon: over the last N scored forecasts, the model's error was X %
    smaller (or larger) than persistence's, and the 80 % interval held the outcome Y % of the time; None when
    nothing is scored."""
    if not recent["scored"] and not recent["rows80"]:
        return None
    count = recent["scored"] or recent["rows80"]
    ahead = days_ahead(horizon)
    parts = [f"Over the last {count:,} scored forecast{'s' if count != 1 else ''} {ahead} (made from the snapshots "
             f"of {recent['first_date']} to {recent['last_date']})"]
    rule = f'"{same_as_today(horizon)}"'
    improvement = recent["improvement"]
    if improvement is None and recent["scored"]:
        parts.append(f"the model's average error was {recent['model_mae']:.3f}, while {rule} was never wrong")
    elif improvement is not None:
        if rounded_percent(abs(improvement)) == "0 %":
            parts.append(f"the model's error was about the same as {rule}")
        else:
            parts.append(f"the model's error was {rounded_percent(abs(improvement))} "
                         f"{'smaller' if improvement > 0 else 'larger'} than {rule}")
    if recent["rows80"]:
        parts.append(f"the 80 % interval held the outcome {rounded_percent(recent['coverage80'])} of the time")
    if len(parts) == 3:
        return f"{parts[0]}, {parts[1]}, and {parts[2]}."
    return ", ".join(parts) + "."


def horizon_charts(entry, goal, levels, prefix=""):
    """Return the charts of one horizon: weekly MAE of model and persistence, weekly coverage with its goal."""
    weeks = entry["weeks"]
    labels = [week["week"] for week in weeks]
    title = days_ahead(entry["horizon"])
    charts = {}
    if any(week["scored"] for week in weeks):
        charts["mae"] = line_chart(f"{prefix}Mean absolute error by week, {title}: model and persistence", labels, [
            ("model", "s-model", [w["model_mae"] for w in weeks]),
            ("persistence (score then = today's)", "s-persistence", [w["persistence_mae"] for w in weeks])],
            y_min=0.0, x_label="week starting", y_label="average error in score")
    if any(week[f"rows{level}"] for week in weeks for level in levels):
        charts["coverage"] = line_chart(
            f"{prefix}Share of outcomes inside the interval by week, {title}", labels,
            [(f"{level} % interval", COVERAGE_CSS.get(level, "s-price"), [w[f"coverage{level}"] for w in weeks])
             for level in levels] + [(f"goal of the 80 % interval ({goal:.0%})", GOAL_CSS, [goal] * len(weeks))],
            y_min=0.0, y_max=1.0, tick_format=percent, x_label="week starting", y_label="outcomes inside")
    return charts


@bp.get("/monitor")
def index():
    """Show how the forecasts turned out in one sentence, then per horizon realized accuracy and interval coverage by
    week; forecasts scored and input drift; the backtest of the current model, apart from the live log."""
    current_model()  # 503 first when the model is not loaded
    market = current_market()
    data = market.monitor()
    weeks = data["accuracy"]["weeks"]
    charts = {}
    if weeks:
        labels = [week["week"] for week in weeks]
        charts["accuracy"] = line_chart("High/Low accuracy by week, 1 day ahead: model and persistence", labels, [
            ("model", "s-model", [w["model_accuracy"] for w in weeks]),
            ("persistence", "s-persistence", [w["persistence_accuracy"] for w in weeks])],
            y_min=0.0, y_max=1.0, tick_format=percent, x_label="week starting", y_label="High/Low right")
        charts["scored"] = bar_chart("Forecasts 1 day ahead scored by week", labels, [w["scored"] for w in weeks],
                                     x_label="week starting", y_label="forecasts scored")
    horizons = [(entry, days_ahead(entry["horizon"]), horizon_charts(entry, data["coverage_goal"], data["levels"]),
                 plain_sentence(entry["recent"], entry["horizon"]))
                for entry in data["horizons"]]
    backtest = data["backtest"]
    backtest_horizons = [(entry, days_ahead(entry["horizon"]), plain_sentence(entry["recent"], entry["horizon"]))
                         for entry in backtest["horizons"] or []]
    if backtest["horizons"]:
        first = backtest["horizons"][0]
        backtest_charts = horizon_charts(first, data["coverage_goal"], data["levels"], prefix="Backtest: ")
        charts.update({f"backtest_{name}": chart for name, chart in backtest_charts.items()})
    drift_weeks = data["drift"]["weeks"]
    used = [name for name in INPUT_NAMES if name not in data["drift"]["unused"]]
    if drift_weeks and used:
        charts["drift"] = line_chart("Share of logged inputs outside the training range, by week",
                                     [w["week"] for w in drift_weeks],
                                     [(INPUT_TITLES[name], DRIFT_CSS[name], [w[name] for w in drift_weeks])
                                      for name in used], y_min=0.0, y_max=1.0, tick_format=percent,
                                     x_label="week starting", y_label="inputs outside the range")
    return render_template("monitor/index.html", data=data, charts=charts, horizons=horizons,
                           backtest=backtest, backtest_horizons=backtest_horizons,
                           has_history=market.latest is not None, backtest_running=backtests.running(),
                           backtest_started=backtests.started_at, backtest_failure=backtests.failure,
                           input_names=INPUT_NAMES, input_titles=INPUT_TITLES, log_state=prediction_logs.log_state())


@bp.post("/monitor/backtest")
def backtest():
    """Start a backtest of the current model over the stored history (CSRF-protected form); show the monitor."""
    model = current_model()
    market = current_market()
    if market.latest is None:
        abort(409, description="The market store holds no snapshot to backtest on: import snapshots first.")
    if not backtests.start(market.store, model):
        abort(409, description="A backtest is already running: reload the monitor in a minute to see it.")
    return redirect(url_for("monitor.index", _anchor="backtest"), code=303)
