"""GET /model: the model card as a page."""

from flask import Blueprint, render_template

from liquidity.web import current_model

bp = Blueprint("model", __name__)

MODEL_NAMES = {"random_forest": "Tuned random forest", "persistence": "Persistence (next score = today's)",
               "mean_7_days": "The coin's 7-day mean score", "linear_regression": "Linear regression"}
CHART_WIDTH = 320  # px of the longest importance bar in the inline SVG chart


def importance_bars(card):
    """Return (name, description, importance, bar width) for each feature, largest first."""
    descriptions = {feature["name"]: feature["description"] for feature in card["features"]}
    importances = sorted(card["feature_importances"].items(), key=lambda item: item[1], reverse=True)
    top = max((value for _, value in importances), default=0) or 1
    return [(name, descriptions.get(name, ""), value, max(1, round(CHART_WIDTH * value / top)))
            for name, value in importances]


@bp.get("/model")
def card():
    """Show what the model was trained on, how good it is next to its baselines, and what it is."""
    model = current_model()
    card = model.card
    validation = card["validation"]
    blocks = [("Time-ordered evaluation, with the coin's history", validation),
              ("Four inputs only (history missing, as for a new coin)", validation.get("four_input"))]
    return render_template("model/card.html", card=card, model=model, bars=importance_bars(card),
                           chart_width=CHART_WIDTH, blocks=[(t, b) for t, b in blocks if b],
                           model_names=MODEL_NAMES)
