"""GET /healthz: 200 with the model version, or 503 with the reason the model is not loaded."""

from flask import Blueprint, current_app

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Say whether the model is loaded, and which one."""
    model = current_app.extensions.get("liquidity_model")
    if model is None:
        reason = current_app.extensions.get("liquidity_model_error") or "the model is not loaded"
        return {"status": "unavailable", "reason": reason}, 503
    return {"status": "ok", "model_version": model.version, "backend": model.backend,
            "backend_reason": model.backend_reason}
