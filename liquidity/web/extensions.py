"""Flask extensions, created unbound and bound to an app in create_app with init_app."""

import logging
from dataclasses import dataclass

from flask import current_app
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import ServiceUnavailable

log = logging.getLogger("liquidity.web")


class ModelUnavailable(ServiceUnavailable):
    """The model artifacts did not verify at start-up, so nothing can be scored."""


@dataclass
class LoadedModel:
    """One app's model, or the reason (safe to show on /healthz) it is not loaded."""

    model: object = None
    error: str | None = None


class ModelStore:
    """Load the verified model once per app at start-up and hand it to the views."""

    name = "liquidity_model"

    def init_app(self, app):
        """Load the model from app.config's ARTIFACT_PATHS and LIQUIDITY_THRESHOLD; on failure keep the reason."""
        app.extensions[self.name] = load_model(app.config["ARTIFACT_PATHS"], app.config["LIQUIDITY_THRESHOLD"])

    def state(self, app=None):
        """Return the LoadedModel of app (default: the current app)."""
        return (app or current_app).extensions[self.name]

    def get(self, app=None):
        """Return the LiquidityModel of app, or None when it is not loaded."""
        return self.state(app).model

    def require(self):
        """Return the current app's LiquidityModel, or raise ModelUnavailable."""
        model = self.get()
        if model is None:
            raise ModelUnavailable("The model is not available: its files did not pass verification at start-up. "
                                   "The operator can see why at /healthz.")
        return model


def load_model(paths, threshold):
    """Return a LoadedModel: the verified model, or why it did not load (without the deploy folders)."""
    from liquidity.artifacts import ArtifactError
    from liquidity.modeling.predict import LiquidityModel
    from liquidity.web import check_model

    # A model that fails verification is never unpickled, and the app still starts so /healthz can say why.
    try:
        model = LiquidityModel.load(paths, threshold)
        check_model(model)
    except ArtifactError as error:
        reason = str(error)
    except Exception as error:  # a card that verifies but does not fit the code: any error, and still start
        reason = (f"{paths.card}: the model card does not fit this app "
                  f"({error.__class__.__name__}: {error})")
    else:
        return LoadedModel(model=model)
    log.error("model not loaded: %s", reason)
    # /healthz is public: it names the file and the fault, not the folders the app is deployed in.
    for folder in {str(path.parent) for path in (paths.model, paths.scaler, paths.card)}:
        reason = reason.replace(folder.rstrip("/") + "/", "")
    return LoadedModel(error=reason)


csrf = CSRFProtect()
models = ModelStore()
