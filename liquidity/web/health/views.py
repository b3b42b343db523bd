"""GET /healthz: 200 with the model version, or 503 with the reason the model is not loaded; prediction log counts."""

from flask import Blueprint

from liquidity.web.extensions import models, prediction_logs

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Say whether the model is loaded, and which one."""
    state = models.state()
    model = state.model
    if model is None:
        reason = state.error or "the model is not loaded"
        return {"status": "unavailable", "reason": reason, "prediction_log": prediction_logs.log_state()}, 503
    # prediction_log counts this worker's logged forecasts and those a store error kept out of the log.
    return {"status": "ok", "model_version": model.version, "backend": model.backend,
            "backend_reason": model.backend_reason, "prediction_log": prediction_logs.log_state()}
