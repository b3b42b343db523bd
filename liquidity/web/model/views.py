"""GET /model: the model card as a page."""

from flask import Blueprint, render_template

from liquidity.web import current_model
from liquidity.web.model.figures import GOAL_COVERAGE, days_ahead, horizon_figures, plain_summary

bp = Blueprint("model", __name__)

MODEL_NAMES = {"random_forest": "Tuned random forest", "persistence": "Persistence (the score stays as it is today)",
               "mean_7_days": "The coin's 7-day mean score", "mean_30_days": "The coin's 30-day mean score",
               "linear_regression": "Linear regression"}
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
