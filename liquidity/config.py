"""Settings: embedded defaults, overridden from the environment in this one place."""

import os
from pathlib import Path

from liquidity.artifacts import CARD_FILE, MODEL_FILE, SCALER_FILE, ArtifactPaths

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_artifact_paths(environ=None):
    """Return the artifact paths from LIQUIDITY_MODEL_PATH / _SCALER_PATH / _CARD_PATH, else the project root."""
    environ = os.environ if environ is None else environ
    return ArtifactPaths(
        model=Path(environ.get("LIQUIDITY_MODEL_PATH", PROJECT_ROOT / MODEL_FILE)),
        scaler=Path(environ.get("LIQUIDITY_SCALER_PATH", PROJECT_ROOT / SCALER_FILE)),
        card=Path(environ.get("LIQUIDITY_CARD_PATH", PROJECT_ROOT / CARD_FILE)),
    )
