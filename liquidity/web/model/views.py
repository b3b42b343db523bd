"""GET /model: the model card as a page; horizon_figures is also what GET /api/v1/model adds to the card."""

from flask import Blueprint, render_template

from liquidity.web import current_model

bp = Blueprint("model", __name__)

MODEL_NAMES = {"random_forest": "Tuned random forest", "persistence": "Persistence (the score stays as it is today)",
               "mean_7_days": "The coin's 7-day mean score", "mean_30_days": "The coin's 30-day mean score",
               "linear_regression": "Linear regression"}
BASELINE_MEANS = ("mean_7_days", "mean_30_days")
HORIZON_METRICS = ("r2", "mae", "spearman", "roc_auc")
GOAL_COVERAGE = 0.8
CHART_WIDTH = 320  # px of the longest importance bar in the inline SVG chart


def importance_bars(card):
    """Return (name, description, importance, bar width) for each feature, largest first."""
    descriptions = {feature["name"]: feature["description"] for feature in card["features"]}
    importances = sorted(card["feature_importances"].items(), key=lambda item: item[1], reverse=True)
    top = max((value for _, value in importances), default=0) or 1
    return [(name, descriptions.get(name, ""), value, max(1, round(CHART_WIDTH * value / top)))
            for name, value in importances]


def compared_with_persistence(block, uses):
    """Return, in words, how the forest compares with persistence in a validation block, or None without both.

    uses says what the forest forecasts from in that block (its history, or the four inputs alone).
    """
    models = block.get("models", {})
    forest, persistence = models.get("random_forest"), models.get("persistence")
    if not (forest and persistence):
        return None
    r2_gap, mae_gap = forest["r2"] - persistence["r2"], forest["mae"] - persistence["mae"]
    spread = forest.get("r2_fold_std")  # cards with per-fold figures; the time-ordered card pools its test rows
    gaps = f"R² {r2_gap:+.3f}, MAE {mae_gap:+.4f}"
    if spread is not None and abs(r2_gap) <= spread:
        verdict = (f"The R² gap ({r2_gap:+.3f}) is within its spread across folds ({spread:.3f}), so the forest does "
                   "about as well as persistence: it has learned little beyond today's rank.")
    elif r2_gap > 0 and mae_gap < 0:
        verdict = f"The forest beats persistence on both ({gaps})."
    elif r2_gap < 0 and mae_gap > 0:
        verdict = f"The forest does worse than persistence on both ({gaps})."
    else:
        verdict = (f"The forest does about as well as persistence, better on one figure and worse on the other "
                   f"({gaps}): it has learned little beyond today's rank here.")
    return (f"Persistence guesses that tomorrow's score equals today's. Against it the forest scores R² "
            f"{forest['r2']:.3f} vs {persistence['r2']:.3f}, MAE {forest['mae']:.4f} vs {persistence['mae']:.4f} and "
            f"High/Low accuracy {forest['accuracy']:.1%} vs {persistence['accuracy']:.1%}. {verdict} The forest "
            f"forecasts from {uses}, and adds an 80 % interval.")


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


@bp.get("/model")
def card():
    """Show what the model was trained on, how good it is next to its baselines, and what it is."""
    model = current_model()
    card = model.card
    validation = card["validation"]
    blocks = [("Time-ordered evaluation, with the coin's history", validation,
               "the coin's four inputs, its score today and its own past 30 days"),
              ("Four inputs only (history missing, as for a new coin)", validation.get("four_input"),
               "the four inputs alone, ranked against the latest snapshot")]
    figures = horizon_figures(card)
    return render_template("model/card.html", card=card, model=model, bars=importance_bars(card),
                           chart_width=CHART_WIDTH, horizons=figures, summary=plain_summary(card, figures),
                           conformal=card.get("conformal", {}), days_ahead=days_ahead, goal=GOAL_COVERAGE,
                           blocks=[(t, b, compared_with_persistence(b, uses)) for t, b, uses in blocks if b],
                           model_names=MODEL_NAMES)
