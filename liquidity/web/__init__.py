"""The web layer: one blueprint per feature, shared model access, errors, headers and logs."""

from flask import current_app
from werkzeug.exceptions import ServiceUnavailable


class ModelUnavailable(ServiceUnavailable):
    """The model artifacts did not verify at start-up, so nothing can be scored."""


def current_model():
    """Return the LiquidityModel loaded at start-up, or raise ModelUnavailable with the reason."""
    model = current_app.extensions.get("liquidity_model")
    if model is None:
        raise ModelUnavailable("The model is not available: its files did not pass verification at start-up. "
                               "The operator can see why at /healthz.")
    return model


# What the pages and the API read from the model card, with the type each must have.
CARD_SECTIONS = {"model_version": str, "threshold": (int, float), "inputs": dict, "features": list,
                 "feature_importances": dict, "validation": dict, "data": dict, "hyperparameters": dict,
                 "reference_snapshot": dict, "versions": dict, "artifacts": dict}


def check_model(model):
    """Raise ValueError naming what the verified card lacks that the pages and the forecast read.

    Structure only, no scoring: create_app runs in gunicorn's master before it forks, and the fast path
    must not start there (see LiquidityModel._fast_path).
    """
    from liquidity.features import INPUT_COLUMNS

    card = model.card
    wrong = [name for name, kind in CARD_SECTIONS.items() if not isinstance(card.get(name), kind)]
    wrong += [f"inputs.{name}" for name in INPUT_COLUMNS
              if not isinstance(card.get("inputs", {}).get(name), dict)
              or not all(isinstance(card["inputs"][name].get(k), (int, float)) for k in ("min", "max"))]
    ratios = card.get("reference_snapshot", {}).get("liquidity_ratios") if isinstance(
        card.get("reference_snapshot"), dict) else None
    if not (isinstance(ratios, list) and ratios and all(isinstance(r, (int, float)) for r in ratios)):
        wrong.append("reference_snapshot.liquidity_ratios")
    if wrong:
        raise ValueError(f"the model card lacks or has malformed section(s): {', '.join(wrong)}")
