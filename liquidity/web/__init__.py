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
    """Raise ValueError if the verified card lacks what the pages use, or the example coins fail to score."""
    from liquidity.examples import EXAMPLE_COINS

    card = model.card
    wrong = [name for name, kind in CARD_SECTIONS.items() if not isinstance(card.get(name), kind)]
    if wrong:
        raise ValueError(f"the model card lacks or has malformed section(s): {', '.join(wrong)}")
    for coin in EXAMPLE_COINS:
        forecast = model.forecast(coin.volume, coin.mkt_cap, coin.h1_percent / 100, coin.price)
        if not 0.0 <= forecast.score <= 1.0:
            raise ValueError(f"the model scores {coin.name} {forecast.score}, outside 0..1")
