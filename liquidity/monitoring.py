"""Realized accuracy and input drift from the prediction log, by week: the figures /monitor and its API show.

No web code. Weeks start on Monday. Accuracy is counted once per forecast (coin, snapshot date, model version),
by the week of the snapshot the forecast was made from; drift by the week the inputs were logged.
"""

from datetime import UTC, date, datetime, timedelta

import pandas as pd

from liquidity.store.predictions import LOG_INPUT_COLUMNS, accuracy_by_date, counts, inputs_by_day

RECENT_DAYS = 7
INPUT_NAMES = tuple(LOG_INPUT_COLUMNS.values())  # volume, mkt_cap, 1h, price: the card's names


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


def accuracy_figures(store, threshold):
    """Return {"overall": ..., "weeks": [...]}: MAE and High/Low accuracy of the model and of persistence."""
    by_date = accuracy_by_date(store, threshold)
    weeks = []
    if not by_date.empty:
        by_date["week"] = by_date["date"].map(week_of)
        for week, frame in by_date.groupby("week", sort=True):
            weeks.append({"week": week, **_accuracy_row(frame),
                          "model_versions": sorted(frame["model_version"].unique().tolist())})
    return {"overall": _accuracy_row(by_date) if not by_date.empty else _accuracy_row(
        pd.DataFrame({c: [] for c in ("scored", "model_error", "persistence_error", "model_hits",
                                      "persistence_hits")})), "weeks": weeks}


def drift_figures(store, ranges, now=None, recent_days=RECENT_DAYS):
    """Return the share of logged inputs outside the training range: per input recently, and per week."""
    now = now or datetime.now(UTC)
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
            recent[name] = {"logged": logged, "outside": outside, "share": _ratio(outside, logged)}
        summed = by_day.groupby(["week", "input"], sort=True)[["logged", "outside"]].sum()
        for week in sorted(by_day["week"].unique()):
            entry = {"week": week}
            for name in INPUT_NAMES:
                logged, outside = summed.loc[(week, name)] if (week, name) in summed.index else (0, 0)
                entry[name] = _ratio(outside, logged)
            weeks.append(entry)
    else:
        recent = {name: {"logged": 0, "outside": 0, "share": None} for name in INPUT_NAMES}
    return {"recent_days": recent_days, "recent": recent, "weeks": weeks,
            "ranges": {name: {"min": ranges[name]["min"], "max": ranges[name]["max"]} for name in INPUT_NAMES}}


def monitor_figures(store, model, now=None):
    """Return every figure of the monitor: log counts, realized accuracy by week, input drift by week."""
    by_source, scored = counts(store)
    return {
        "model_version": model.version,
        "threshold": model.threshold,
        "logged": {"total": int(sum(by_source.values())), "by_source": by_source, "scored": scored},
        "accuracy": accuracy_figures(store, model.threshold),
        "drift": drift_figures(store, model.card["inputs"], now=now),
    }
