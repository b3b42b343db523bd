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


def check_model(model):
    """Raise ValueError naming what the verified card lacks that the pages and the forecast read.

    Structure only, no scoring: create_app runs in gunicorn's master before it forks, and the fast path
    must not start there (see LiquidityModel._scorer).
    """
    from liquidity.modeling.card import check_card

    wrong = check_card(model.card)
    if wrong:
        raise ValueError(f"the model card lacks or has malformed section(s): {', '.join(wrong)}")
