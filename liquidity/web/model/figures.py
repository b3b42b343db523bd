"""The model card's figures per horizon, and a plain summary of them: what /model shows and GET /api/v1/model adds
to the card; and the 90 % interval of the four-input path's 1-day forecasts."""

BASELINE_MEANS = ("mean_7_days", "mean_30_days")
HORIZON_METRICS = ("r2", "mae", "spearman", "roc_auc")
GOAL_COVERAGE = 0.8


def days_ahead(horizon):
    return "1 day ahead" if int(horizon) == 1 else f"{horizon} days ahead"


def _share_below(value, reference):
    """Return how much smaller value is than reference, as a fraction of reference (negative when larger)."""
    return None if value is None or not reference else 1.0 - value / reference


def _worst_month(report, goal=GOAL_COVERAGE):
    """Return the month whose 80 % coverage lies furthest from the goal, or None without months."""
    months = [month for month in report.get("by_month", ())
              if month.get("rows") and month.get("coverage80") is not None]
    return max(months, key=lambda month: abs(month["coverage80"] - goal), default=None)


def _one_day(report):
    """Return the lowest and highest share of one date's forecasts inside the 80 % interval, and its spread."""
    per_date = report.get("per_date80") or {}
    return {key: per_date.get(key) for key in ("min", "max", "sd")} if per_date.get("dates") else None


def _horizon_validation(card, horizon):
    """Return the validation block of one horizon (a card without per-horizon figures has its 1-day block on top)."""
    validation = card["validation"]
    block = validation.get("horizons", {}).get(str(horizon))
    if block is None and int(horizon) == 1:
        block = validation
    return block or {}


def horizon_figures(card):
    """Return, per horizon of the card: its definition, each model's and baseline's R², MAE, mean Spearman per date
    and ROC-AUC, the forest's MAE gain over persistence and the better mean, and the intervals' coverage."""
    conformal = card.get("conformal", {})
    figures = []
    for horizon in card.get("horizons", [1]):
        models = _horizon_validation(card, horizon).get("models", {})
        forest, persistence = models.get("random_forest", {}), models.get("persistence", {})
        means = [models[name] for name in BASELINE_MEANS if name in models]
        best_mean = min(means, key=lambda m: m["mae"]) if means else {}
        report = conformal.get("coverage", {}).get(str(horizon), {})
        quintiles = [q for q in report.get("by_quintile", ()) if q.get("rows")]
        figures.append({
            "horizon": int(horizon),
            "definition": card.get("horizon_definitions", {}).get(str(horizon), days_ahead(horizon)),
            "models": {name: {key: m.get(key) for key in HORIZON_METRICS} for name, m in models.items()},
            "mae_below_persistence": _share_below(forest.get("mae"), persistence.get("mae")),
            "mae_below_best_mean": _share_below(forest.get("mae"), best_mean.get("mae")),
            "coverage": {
                "dates": report.get("dates", []), "rows": report.get("rows", 0),
                **{key: report.get(key) for key in ("coverage80", "width80", "coverage90", "width90")},
                "quintile_coverage80": [min((q["coverage80"] for q in quintiles), default=None),
                                        max((q["coverage80"] for q in quintiles), default=None)],
                "quintile_coverage90_min": min((q["coverage90"] for q in quintiles), default=None),
                "by_quintile": report.get("by_quintile", []),
                "worst_month": _worst_month(report),
                "one_day80": _one_day(report),
            },
        })
    return figures


def _percent(value):
    return f"{value * 100:.1f} %"


def _listed(parts):
    """Return ["a", "b", "c"] as "a, b and c"."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _days(horizon):
    return "1 day" if int(horizon) == 1 else f"{horizon} days"


def _gains(figures, key):
    return [f"{_percent(f[key])} at {_days(f['horizon'])}" if f[key] >= 0 else
            f"{_percent(-f[key])} more at {_days(f['horizon'])}" for f in figures if f[key] is not None]


def plain_summary(card, figures):
    """Return three sentences for a reader in a hurry: what is forecast, how much better than the simple rules, and
    how sure the forecast is."""
    what = (f"It forecasts each coin's liquidity score, its turnover rank among all coins from 0 (least liquid) to "
            f"1 (most liquid), {_listed([str(f['horizon']) for f in figures])} "
            f"{'day' if [f['horizon'] for f in figures] == [1] else 'days'} ahead.")
    gains, means = _gains(figures, "mae_below_persistence"), _gains(figures, "mae_below_best_mean")
    if gains:
        better = ("Tested on later data than it learned from, its mean error is smaller than the simplest rule's "
                  f"(the score stays as it is today) by {_listed(gains)}")
        better += (f"; than the better of the coin's 7- and 30-day mean score's by {_listed(means)}." if means
                   else ".")
    else:
        better = "This card holds no comparison with the simplest rule (the score stays as it is today)."
    covered = [f"{_percent(f['coverage']['coverage80'])} of cases at {_days(f['horizon'])}" for f in figures
               if f["coverage"]["coverage80"] is not None]
    sure = ("Each forecast comes with an 80 % interval: in 8 of 10 past cases like it, the score turned out inside "
            "that range" + (f"; on later data it held the score in {_listed(covered)}." if covered else "."))
    return [what, better, sure]


def has_interval_90(model):
    """Return True when the model's calibration draws a 90 % interval."""
    return 90 in model.card.get("conformal", {}).get("levels", ())


def intervals_90(model, scores):
    """Return the 1-day 90 % interval (low, high arrays) of scores, or None when the model's calibration has none."""
    return model.intervals(scores, model.horizons[0], 90) if has_interval_90(model) else None


def interval_90_row(model, score):
    """Return the 1-day 90 % interval (low, high) of one score, or None when the model's calibration has none."""
    return model.interval_row(score, 90) if has_interval_90(model) else None
