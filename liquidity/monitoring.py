"""Realized accuracy, interval coverage and input drift from the prediction log, by week: the figures /monitor and
its API show.

No web code. Weeks start on Monday. Accuracy and coverage are counted once per forecast (coin, snapshot date, model
version, horizon), by the week of the snapshot the forecast was made from; drift by the week the inputs were logged.
"""

from datetime import UTC, date, datetime, timedelta

import pandas as pd

from liquidity.modeling.conformal import LEVELS, weekly_coverage
from liquidity.store.predictions import (
    BACKTEST,
    LIVE,
    LOG_INPUT_COLUMNS,
    accuracy_by_date,
    counts,
    inputs_by_day,
    scored_forecasts,
)

RECENT_DAYS = 7
# The page's lead sentence counts the scored forecasts made from the snapshots of this many days, up to the newest.
SUMMARY_DAYS = 30
INPUT_NAMES = tuple(LOG_INPUT_COLUMNS.values())  # volume, mkt_cap, 1h, price: the card's names
COVERAGE_GOAL = 0.8  # the 80 % interval should hold the realized score 8 times in 10


def week_of(day):
    """Return the Monday of the week holding day ('YYYY-MM-DD'), as 'YYYY-MM-DD'."""
    value = date.fromisoformat(str(day)[:10])
    return (value - timedelta(days=value.weekday())).isoformat()


def _ratio(numerator, denominator):
    return None if not denominator else float(numerator) / float(denominator)


def _accuracy_row(frame):
    scored = int(frame["scored"].sum())
    return {
        "scored": scored,
        "model_mae": _ratio(frame["model_error"].sum(), scored),
        "persistence_mae": _ratio(frame["persistence_error"].sum(), scored),
        "model_accuracy": _ratio(frame["model_hits"].sum(), scored),
        "persistence_accuracy": _ratio(frame["persistence_hits"].sum(), scored),
    }


_NO_ROWS = pd.DataFrame({c: [] for c in ("scored", "model_error", "persistence_error", "model_hits",
                                         "persistence_hits")})


def accuracy_figures(store, threshold, horizon=1, kind=LIVE, model_version=None, by_date=None):
    """Return {"overall": ..., "weeks": [...]}: MAE and High/Low accuracy of the model and of persistence, for the
    forecasts horizon days ahead (kind: the live log's or the backtest's; model_version: only that version's)."""
    if by_date is None:
        by_date = _accuracy_by_date(store, threshold, horizon, kind, model_version)
    weeks = []
    if not by_date.empty:
        by_date["week"] = by_date["date"].map(week_of)
        for week, frame in by_date.groupby("week", sort=True):
            weeks.append({"week": week, **_accuracy_row(frame),
                          "model_versions": sorted(frame["model_version"].unique().tolist())})
    return {"overall": _accuracy_row(by_date if not by_date.empty else _NO_ROWS), "weeks": weeks}


def _accuracy_by_date(store, threshold, horizon, kind, model_version):
    by_date = accuracy_by_date(store, threshold, horizon=horizon, kind=kind)
    if model_version is not None:
        by_date = by_date[by_date["model_version"] == str(model_version)].reset_index(drop=True)
    return by_date


def summary_figures(by_date, scored, days=SUMMARY_DAYS):
    """Return the lead sentence's figures over the forecasts made from the snapshots of the last `days` days up to
    the newest scored one: how many were scored, the model's and persistence's mean absolute error, how much smaller
    the model's was (a share of persistence's; negative: larger) and the share of outcomes inside the 80 % interval.

    by_date: accuracy_by_date's frame of one horizon; scored: scored_forecasts' rows of that horizon.
    """
    newest = max([str(day)[:10] for frame in (by_date, scored) for day in frame["date"]], default=None)
    if newest is None:
        return {"days": days, "first_date": None, "last_date": None, "scored": 0, "model_mae": None,
                "persistence_mae": None, "improvement": None, "rows80": 0, "coverage80": None}
    first = (date.fromisoformat(newest) - timedelta(days=days - 1)).isoformat()
    recent = by_date[by_date["date"].astype(str).str[:10] >= first] if len(by_date) else by_date
    figures = _accuracy_row(recent if len(recent) else _NO_ROWS)
    model_mae, persistence_mae = figures["model_mae"], figures["persistence_mae"]
    improvement = None
    if model_mae is not None and persistence_mae:
        improvement = 1.0 - model_mae / persistence_mae
    coverage, _ = _level_coverage(scored[scored["date"].astype(str).str[:10] >= first], 80)
    return {"days": days, "first_date": first, "last_date": newest, "scored": figures["scored"],
            "model_mae": model_mae, "persistence_mae": persistence_mae, "improvement": improvement,
            "rows80": coverage["rows"], "coverage80": coverage["coverage"]}


def _level_coverage(rows, level):
    """Return the overall and weekly coverage of rows at one level, from the rows that carry that interval."""
    low, high = f"low{level}", f"high{level}"
    rows = rows[rows[low].notna() & rows[high].notna()]  # a row logged before 90 % intervals existed has none
    if rows.empty:
        return {"rows": 0, "coverage": None, "width": None}, {}
    inside = (rows["actual"] >= rows[low]) & (rows["actual"] <= rows[high])
    width = float((rows[high] - rows[low]).mean())
    overall = {"rows": int(len(rows)), "coverage": float(inside.mean()), "width": width}
    weeks = {week["week"]: week for week in weekly_coverage(rows, levels=(level,))}
    return overall, weeks


def coverage_figures(scored, levels=LEVELS):
    """Return {"overall": {...}, "weeks": [...]}: the share of scored forecasts whose realized score fell inside
    their logged interval, and the interval's mean width, at each level, overall and by week."""
    overall, weeks = {}, {}
    for level in levels:
        figures, by_week = _level_coverage(scored, level)
        overall[f"rows{level}"] = figures["rows"]
        overall[f"coverage{level}"], overall[f"width{level}"] = figures["coverage"], figures["width"]
        for week, entry in by_week.items():
            weeks.setdefault(week, {"week": week})
            weeks[week].update({f"rows{level}": entry["rows"], f"coverage{level}": entry[f"coverage{level}"],
                                f"width{level}": entry[f"width{level}"]})
    empty = {f"{name}{level}": (0 if name == "rows" else None)
             for level in levels for name in ("rows", "coverage", "width")}
    return {"overall": overall, "weeks": [{**empty, **weeks[week]} for week in sorted(weeks)]}


def horizon_figures(store, model, kind=LIVE):
    """Return per horizon of the model: accuracy against persistence and interval coverage, overall, over the last
    SUMMARY_DAYS days (recent) and by week.

    A week lists the accuracy and the coverage figures of the forecasts made from its snapshots; a figure with
    nothing to count is None (and its count 0). kind: the live log's forecasts (every model version) or the
    backtest's (the model's version only: an older model's backtest says nothing about this one).
    """
    version = model.version if kind == BACKTEST else None
    scored = scored_forecasts(store, model_version=version, horizons=model.horizons, kind=kind)
    no_accuracy = {**_accuracy_row(_NO_ROWS), "model_versions": []}
    no_coverage = coverage_figures(scored.iloc[:0])["overall"]
    figures = []
    for horizon in model.horizons:
        by_date = _accuracy_by_date(store, model.threshold, horizon, kind, version)
        accuracy = accuracy_figures(store, model.threshold, horizon=horizon, by_date=by_date.copy())
        rows = scored[scored["horizon"] == horizon]
        coverage = coverage_figures(rows)
        weeks = {}
        for week in accuracy["weeks"] + coverage["weeks"]:
            weeks.setdefault(week["week"], {"week": week["week"], **no_accuracy, **no_coverage}).update(week)
        figures.append({"horizon": horizon, "overall": {**accuracy["overall"], **coverage["overall"]},
                        "recent": summary_figures(by_date, rows), "weeks": [weeks[week] for week in sorted(weeks)]})
    return figures


def backtest_figures(store, model):
    """Return the stored backtests (runs, newest first) and, when the model's version has one, its figures per
    horizon as horizon_figures gives them; None figures without one."""
    from liquidity.store.backtests import backtest_runs

    runs = backtest_runs(store)
    current = [run for run in runs if run["model_version"] == str(model.version)]
    return {"runs": runs, "current": current[0] if current else None,
            "horizons": horizon_figures(store, model, kind=BACKTEST) if current else None}


def unused_inputs(ranges):
    """Return the inputs the model does not use: those never present in its training rows (no range in the card), as
    1h is absent from the daily history. The forest splits on nothing they carry, so no value of theirs is drift."""
    return tuple(name for name in INPUT_NAMES if ranges[name].get("min") is None or ranges[name].get("max") is None)


def drift_figures(store, ranges, now=None, recent_days=RECENT_DAYS):
    """Return the share of logged inputs outside the training range: per input recently, and per week.

    An input the model does not use (unused_inputs) keeps its logged count, but its outside count and shares are
    None: it is listed under "unused", not reported as drift.
    """
    now = now or datetime.now(UTC)
    unused = unused_inputs(ranges)
    by_day = inputs_by_day(store, ranges)
    recent_start = (now - timedelta(days=recent_days)).date().isoformat()
    recent = {}
    weeks = []
    if not by_day.empty:
        by_day["week"] = by_day["day"].map(week_of)
        last = by_day[by_day["day"] >= recent_start]
        for name in INPUT_NAMES:
            rows = last[last["input"] == name]
            logged, outside = int(rows["logged"].sum()), int(rows["outside"].sum())
            recent[name] = ({"logged": logged, "outside": None, "share": None} if name in unused else
                            {"logged": logged, "outside": outside, "share": _ratio(outside, logged)})
        summed = by_day.groupby(["week", "input"], sort=True)[["logged", "outside"]].sum()
        for week in sorted(by_day["week"].unique()):
            entry = {"week": week}
            for name in INPUT_NAMES:
                logged, outside = summed.loc[(week, name)] if (week, name) in summed.index else (0, 0)
                entry[name] = None if name in unused else _ratio(outside, logged)
            weeks.append(entry)
    else:
        recent = {name: {"logged": 0, "outside": None if name in unused else 0, "share": None}
                  for name in INPUT_NAMES}
    return {"recent_days": recent_days, "recent": recent, "weeks": weeks, "unused": list(unused),
            "ranges": {name: {"min": ranges[name]["min"], "max": ranges[name]["max"]} for name in INPUT_NAMES}}


def monitor_figures(store, model, now=None, backtest=None):
    """Return every figure of the monitor: log counts, the 1-day realized accuracy by week (accuracy), accuracy and
    interval coverage by week per horizon of the model (horizons), input drift by week, and the model's backtest over
    the stored history (backtest, or backtest_figures' answer when given), apart from the live log."""
    by_source, scored = counts(store)
    return {
        "model_version": model.version,
        "threshold": model.threshold,
        "logged": {"total": int(sum(by_source.values())), "by_source": by_source, "scored": scored},
        "accuracy": accuracy_figures(store, model.threshold),
        "coverage_goal": COVERAGE_GOAL,
        "levels": list(LEVELS),
        "horizons": horizon_figures(store, model),
        "drift": drift_figures(store, model.card["inputs"], now=now),
        "backtest": backtest_figures(store, model) if backtest is None else backtest,
    }
