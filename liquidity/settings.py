"""Every setting the commands and the market store take from the environment, read here and passed down as values.

The only module of the package (with liquidity/web/settings.py, which calls these functions) that reads os.environ:
the store, the modeling layer, the CoinGecko client and the artifacts take what they need as arguments.
"""

import os
from pathlib import Path
from typing import NamedTuple

from liquidity.paths import PROJECT_ROOT

DEFAULT_DATABASE = PROJECT_ROOT / "instance" / "market.db"
DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_DATABASE}"
DEFAULT_KEEP_DAYS = 365
MAX_KEEP_DAYS = 36_500
COINGECKO_PUBLIC_URL = "https://api.coingecko.com/api/v3"
COINGECKO_PRO_URL = "https://pro-api.coingecko.com/api/v3"
COINGECKO_PLANS = ("demo", "pro")


class SettingError(ValueError):
    """An environment setting with a value the project cannot use, with the variable named."""


def _environ(environ):
    return os.environ if environ is None else environ


def database_url(environ=None):
    """Return DATABASE_URL, else the embedded SQLite file instance/market.db: the one default of the project."""
    return _environ(environ).get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL


def log_keep_days(environ=None):
    """Return LIQUIDITY_LOG_KEEP_DAYS, the days the prediction log keeps a row (default 365); SettingError if bad."""
    raw = _environ(environ).get("LIQUIDITY_LOG_KEEP_DAYS", "").strip()
    if not raw:
        return DEFAULT_KEEP_DAYS
    try:
        days = int(raw)
    except ValueError:
        raise SettingError(f"LIQUIDITY_LOG_KEEP_DAYS={raw!r} must be a whole number of days") from None
    if not 1 <= days <= MAX_KEEP_DAYS:
        raise SettingError(f"LIQUIDITY_LOG_KEEP_DAYS={raw!r} must lie in [1, {MAX_KEEP_DAYS}]")
    return days


class CoinGeckoSettings(NamedTuple):
    """Where the CoinGecko API is and how to authenticate to it."""

    base_url: str
    api_key: str | None
    plan: str


def coingecko_settings(environ=None):
    """Return CoinGeckoSettings from COINGECKO_BASE_URL / _API_KEY / _API_PLAN (demo or pro); SettingError if bad."""
    environ = _environ(environ)
    api_key = environ.get("COINGECKO_API_KEY", "").strip() or None
    plan = environ.get("COINGECKO_API_PLAN", "").strip().lower() or "demo"
    if plan not in COINGECKO_PLANS:
        raise SettingError(f"COINGECKO_API_PLAN must be 'demo' or 'pro', not {plan!r}")
    # A pro key is only accepted on the pro host, so the plan picks the default host.
    default_url = COINGECKO_PRO_URL if plan == "pro" and api_key else COINGECKO_PUBLIC_URL
    base_url = environ.get("COINGECKO_BASE_URL", "").strip() or default_url
    return CoinGeckoSettings(base_url.rstrip("/"), api_key, plan)


def artifact_paths(environ=None):
    """Return the model's ArtifactPaths from LIQUIDITY_MODEL_PATH / _SCALER_PATH / _CARD_PATH, else the project root."""
    # Imported here: liquidity.artifacts loads scikit-learn, which a command like ingest never needs.
    from liquidity.artifacts import CARD_FILE, MODEL_FILE, SCALER_FILE, ArtifactPaths

    environ = _environ(environ)
    return ArtifactPaths(
        model=Path(environ.get("LIQUIDITY_MODEL_PATH", PROJECT_ROOT / MODEL_FILE)),
        scaler=Path(environ.get("LIQUIDITY_SCALER_PATH", PROJECT_ROOT / SCALER_FILE)),
        card=Path(environ.get("LIQUIDITY_CARD_PATH", PROJECT_ROOT / CARD_FILE)),
    )
