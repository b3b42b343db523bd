"""Settings: embedded defaults, overridden from the environment in this one place."""

import os
from pathlib import Path

from liquidity.artifacts import CARD_FILE, MODEL_FILE, SCALER_FILE, ArtifactPaths

PROJECT_ROOT = Path(__file__).resolve().parent.parent


COINGECKO_PUBLIC_URL = "https://api.coingecko.com/api/v3"
COINGECKO_PRO_URL = "https://pro-api.coingecko.com/api/v3"
COINGECKO_PLANS = ("demo", "pro")


class SettingError(ValueError):
    """An environment setting with a value the project cannot use, with the variable named."""


def coingecko_settings(environ=None):
    """Return (base_url, api_key, plan) from COINGECKO_BASE_URL / _API_KEY / _API_PLAN (demo or pro)."""
    environ = os.environ if environ is None else environ
    api_key = environ.get("COINGECKO_API_KEY", "").strip() or None
    plan = environ.get("COINGECKO_API_PLAN", "").strip().lower() or "demo"
    if plan not in COINGECKO_PLANS:
        raise SettingError(f"COINGECKO_API_PLAN must be 'demo' or 'pro', not {plan!r}")
    # A pro key is only accepted on the pro host, so the plan picks the default host.
    default_url = COINGECKO_PRO_URL if plan == "pro" and api_key else COINGECKO_PUBLIC_URL
    base_url = environ.get("COINGECKO_BASE_URL", "").strip() or default_url
    return base_url.rstrip("/"), api_key, plan


def default_artifact_paths(environ=None):
    """Return the artifact paths from LIQUIDITY_MODEL_PATH / _SCALER_PATH / _CARD_PATH, else the project root."""
    environ = os.environ if environ is None else environ
    return ArtifactPaths(
        model=Path(environ.get("LIQUIDITY_MODEL_PATH", PROJECT_ROOT / MODEL_FILE)),
        scaler=Path(environ.get("LIQUIDITY_SCALER_PATH", PROJECT_ROOT / SCALER_FILE)),
        card=Path(environ.get("LIQUIDITY_CARD_PATH", PROJECT_ROOT / CARD_FILE)),
    )
