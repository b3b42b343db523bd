"""Every web setting: embedded defaults, overridden from the environment in this one place, checked at start-up."""

import os
import secrets
from pathlib import Path

from liquidity import settings as shared
from liquidity.paths import INSTANCE_DIR, REPORT_DIR


class ConfigError(RuntimeError):
    """A setting in the environment that cannot be used, with the variable named."""


ENVIRONMENTS = ("development", "production")
MIN_SECRET_KEY_LENGTH = 32
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_MAX_UPLOAD_MB = 5.0
API_MAX_ITEMS = 10_000
DEFAULT_MAX_BATCH_ROWS = 100_000
TRUE_WORDS = {"1", "true", "yes", "on"}
# The live fill answers a person waiting for the page: short timeouts, one retry, never a long sleep on a 429.
LIVE_FILL = {
    "COINGECKO_LIVE_CONNECT_TIMEOUT": 3.0,
    "COINGECKO_LIVE_READ_TIMEOUT": 5.0,
    "COINGECKO_LIVE_RETRIES": 1,
    "COINGECKO_LIVE_MAX_WAIT": 2.0,
    "COINGECKO_LIVE_CACHE_SECONDS": 60.0,
}
FALSE_WORDS = {"0", "false", "no", "off"}
# Per client address; a person filling in the form stays far below these, a script looping on the API does not.
DEFAULT_RATELIMIT_API = "120 per minute"
DEFAULT_RATELIMIT_FORMS = "60 per minute"
RATELIMIT_SCHEMES = ("memory", "redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster")
DEFAULT_BATCH_KEEP_MINUTES = 30.0
# How often a worker asks the store whether new data landed: what it serves from memory is at most this old.
DEFAULT_STORE_CHECK_SECONDS = 5.0
# Days old the latest snapshot may be before the pages warn that the data is old (the daily import runs every day),
# and before /healthz turns degraded so a monitor pages someone.
DEFAULT_STALE_DAYS = 2
DEFAULT_DEGRADED_DAYS = 7
MAX_AGE_SETTING_DAYS = 36_500


def log_keep_days(environ=None):
    """Return LIQUIDITY_LOG_KEEP_DAYS (days the prediction log keeps a row; default 365), or raise ConfigError."""
    try:
        return shared.log_keep_days(environ)
    except shared.SettingError as error:
        raise ConfigError(str(error)) from None


def store_url(environ=None):
    """Return DATABASE_URL (default: the embedded instance/market.db) as given.

    Checked when the store first opens, not here: a bad value must not stop `flask --app app import` and the other
    commands from loading the app and saying, in their own words, what is wrong with it. The pages built on the
    store answer 503 and the prediction log counts its failures until it is fixed.
    """
    return shared.database_url(environ)


def _number(environ, name, default, low, high, *, low_inclusive=True):
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    below = value < low if low_inclusive else value <= low
    if below or value > high or value != value:
        bound = "[" if low_inclusive else "("
        raise ConfigError(f"{name}={raw!r} must lie in {bound}{low:g}, {high:g}]")
    return value


def _switch(environ, name, default):
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in TRUE_WORDS | FALSE_WORDS:
        raise ConfigError(f"{name}={raw!r} must be one of true, false, 1, 0, yes, no, on, off")
    return raw in TRUE_WORDS


def _rate_limit(environ, name, default):
    from limits import parse_many

    raw = environ.get(name, "").strip() or default
    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a rate limit; write it like '120 per minute' or "
                          "'10/second; 1000/day'") from None
    return raw


def _storage_url(environ, name):
    raw = environ.get(name, "").strip() or "memory://"
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if scheme not in RATELIMIT_SCHEMES:
        raise ConfigError(f"{name}={raw!r} must be memory:// or a Redis URL such as redis://host:6379/0 "
                          f"(schemes: {', '.join(RATELIMIT_SCHEMES)})")
    return raw


def _today(environ, name):
    from datetime import date

    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a date like 2024-03-16") from None


def _freshness(environ):
    """Return (stale days, degraded days) from LIQUIDITY_STALE_DAYS and LIQUIDITY_DEGRADED_DAYS."""
    ages = []
    for name, default in (("LIQUIDITY_STALE_DAYS", DEFAULT_STALE_DAYS), ("LIQUIDITY_DEGRADED_DAYS",
                                                                        DEFAULT_DEGRADED_DAYS)):
        value = _number(environ, name, default, 0, MAX_AGE_SETTING_DAYS)
        if value != int(value):
            raise ConfigError(f"{name}={environ[name]!r} must be a whole number of days")
        ages.append(int(value))
    return tuple(ages)


def load_settings(environ=None):
    """Return the Flask config from the environment, or raise ConfigError naming the bad variable.

    Variables: LIQUIDITY_ENV (development|production), SECRET_KEY, FLASK_DEBUG, LIQUIDITY_THRESHOLD,
    LIQUIDITY_MODEL_PATH / _SCALER_PATH / _CARD_PATH, LIQUIDITY_MAX_UPLOAD_MB, LIQUIDITY_REPORT_DIR,
    LIQUIDITY_LOG_LEVEL, LIQUIDITY_MAX_BATCH_ROWS, COINGECKO_BASE_URL / _API_KEY / _API_PLAN,
    LIQUIDITY_RATELIMIT_ENABLED / _API / _FORMS / _STORAGE_URL,
    LIQUIDITY_PROXY_COUNT, LIQUIDITY_BATCH_RESULT_DIR, LIQUIDITY_BATCH_KEEP_MINUTES,
    DATABASE_URL, LIQUIDITY_STORE_CHECK_SECONDS, LIQUIDITY_PREDICTION_LOG (on/off), LIQUIDITY_LOG_KEEP_DAYS,
    LIQUIDITY_STALE_DAYS, LIQUIDITY_DEGRADED_DAYS, LIQUIDITY_TODAY (a date that stands for today: a demo of old data).
    """
    environ = os.environ if environ is None else environ
    env = environ.get("LIQUIDITY_ENV", "development").strip().lower() or "development"
    if env not in ENVIRONMENTS:
        raise ConfigError(f"LIQUIDITY_ENV={env!r} must be one of {', '.join(ENVIRONMENTS)}")
    production = env == "production"

    secret_key = environ.get("SECRET_KEY", "").strip()
    if not secret_key:
        if production:
            raise ConfigError("SECRET_KEY is not set; production (LIQUIDITY_ENV=production) needs a long random "
                              "SECRET_KEY in the environment, e.g. python -c 'import secrets; "
                              "print(secrets.token_hex(32))'")
        # Development only: a fresh key per process, so sessions do not survive a restart; never a fixed key.
        secret_key = secrets.token_hex(32)
    if production and len(secret_key) < MIN_SECRET_KEY_LENGTH:
        # The length only, never the key: a short key can be guessed, and with it every session and CSRF token forged.
        raise ConfigError(f"SECRET_KEY is {len(secret_key)} character(s) long; production (LIQUIDITY_ENV=production) "
                          f"needs at least {MIN_SECRET_KEY_LENGTH}, e.g. python -c 'import secrets; "
                          "print(secrets.token_hex(32))'")
    debug = environ.get("FLASK_DEBUG", "").strip().lower() in TRUE_WORDS
    if production and debug:
        raise ConfigError("FLASK_DEBUG is on but LIQUIDITY_ENV=production: the debugger must never run in "
                          "production; unset FLASK_DEBUG")

    log_level = environ.get("LIQUIDITY_LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"LIQUIDITY_LOG_LEVEL={log_level!r} must be one of {', '.join(LOG_LEVELS)}")

    try:
        coingecko_url, coingecko_key, coingecko_plan = shared.coingecko_settings(environ)
    except shared.SettingError as error:
        raise ConfigError(str(error)) from None

    threshold = _number(environ, "LIQUIDITY_THRESHOLD", None, 0.0, 1.0, low_inclusive=False)
    upload_mb = _number(environ, "LIQUIDITY_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB, 0.0, 1024.0,
                        low_inclusive=False)
    batch_rows = _number(environ, "LIQUIDITY_MAX_BATCH_ROWS", DEFAULT_MAX_BATCH_ROWS, 1, 10_000_000)
    proxy_count = _number(environ, "LIQUIDITY_PROXY_COUNT", 0, 0, 10)
    if proxy_count != int(proxy_count):
        raise ConfigError(f"LIQUIDITY_PROXY_COUNT={environ['LIQUIDITY_PROXY_COUNT']!r} must be a whole number of "
                          "proxies in front of the app (0, 1, 2, ...)")
    keep_minutes = _number(environ, "LIQUIDITY_BATCH_KEEP_MINUTES", DEFAULT_BATCH_KEEP_MINUTES, 0.0, 24 * 60.0,
                           low_inclusive=False)
    batch_dir = environ.get("LIQUIDITY_BATCH_RESULT_DIR", "").strip()
    store_check = _number(environ, "LIQUIDITY_STORE_CHECK_SECONDS", DEFAULT_STORE_CHECK_SECONDS, 0.0, 3600.0)
    stale_days, degraded_days = _freshness(environ)
    return {
        "LIQUIDITY_ENV": env,
        "DEBUG": debug,
        "SECRET_KEY": secret_key,
        "LIQUIDITY_THRESHOLD": threshold,
        "ARTIFACT_PATHS": shared.artifact_paths(environ),
        "MAX_CONTENT_LENGTH": int(upload_mb * 1024 * 1024),
        "REPORT_DIR": Path(environ.get("LIQUIDITY_REPORT_DIR", REPORT_DIR)),
        "LOG_LEVEL": log_level,
        "API_MAX_ITEMS": API_MAX_ITEMS,
        "BATCH_MAX_ROWS": int(batch_rows),
        "COINGECKO_BASE_URL": coingecko_url,
        "COINGECKO_API_KEY": coingecko_key,
        "COINGECKO_API_PLAN": coingecko_plan,
        **LIVE_FILL,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "WTF_CSRF_ENABLED": True,
        # Flask-Limiter reads RATELIMIT_*; the two limits are this app's own (liquidity/web/ratelimit.py).
        "RATELIMIT_ENABLED": _switch(environ, "LIQUIDITY_RATELIMIT_ENABLED", True),
        "RATELIMIT_STORAGE_URI": _storage_url(environ, "LIQUIDITY_RATELIMIT_STORAGE_URL"),
        "RATELIMIT_API": _rate_limit(environ, "LIQUIDITY_RATELIMIT_API", DEFAULT_RATELIMIT_API),
        "RATELIMIT_FORMS": _rate_limit(environ, "LIQUIDITY_RATELIMIT_FORMS", DEFAULT_RATELIMIT_FORMS),
        "PROXY_COUNT": int(proxy_count),
        # A private folder (checked at start-up: liquidity/web/batch/results.py), never a shared temp folder.
        "BATCH_RESULT_DIR": Path(batch_dir) if batch_dir else INSTANCE_DIR / "batch-results",
        "BATCH_KEEP_SECONDS": int(keep_minutes * 60),
        "DATABASE_URL": store_url(environ),
        "STORE_CHECK_SECONDS": store_check,
        "PREDICTION_LOG_ENABLED": _switch(environ, "LIQUIDITY_PREDICTION_LOG", True),
        "PREDICTION_LOG_KEEP_DAYS": log_keep_days(environ),
        # Past STALE_DAYS the pages say the data is old; past DEGRADED_DAYS /healthz is degraded (503).
        "STALE_DAYS": stale_days,
        "DEGRADED_DAYS": degraded_days,
        "TODAY": _today(environ, "LIQUIDITY_TODAY"),  # None: the UTC calendar's today
    }
