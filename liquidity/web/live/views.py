"""Fill the home form with one coin's current values from CoinGecko (GET /live/fill?coin=bitcoin)."""

import logging
import re
import threading
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, redirect, request, url_for

from liquidity.coingecko import CoinGeckoClient, CoinGeckoError, RateLimitedError, UnreachableError
from liquidity.schema import INPUTS

log = logging.getLogger("liquidity.web.live")  # a child of the web logger: its JSON lines and level

bp = Blueprint("live", __name__, url_prefix="/live")

# CoinGecko ids are lower-case words joined by hyphens; symbols are letters and digits (a few have . or _).
COIN_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
COIN_RULE = "type a CoinGecko id such as bitcoin or a symbol such as BTC (letters, digits, - . _; at most 100)"
# Home form field -> CoinGecko field; h1 stays in percent because the form takes percent.
FORM_FIELDS = {"volume": "total_volume", "mkt_cap": "market_cap", "h1": "price_change_percentage_1h_in_currency",
               "price": "current_price"}
FIELD_LABELS = {spec.form_field: spec.label for spec in INPUTS}
MESSAGES = {
    "offline": "CoinGecko cannot be reached right now; type the values yourself.",
    "busy": "CoinGecko is limiting requests right now; try again in a minute or type the values yourself.",
    "error": "CoinGecko's answer could not be used; type the values yourself.",
    "unknown": "CoinGecko has no coin with the id or symbol '{coin}'.",
}


def _client():
    """Return a CoinGecko client for one page view, on the settings read at start-up (liquidity.web.settings)."""
    config = current_app.config
    return CoinGeckoClient(
        config["COINGECKO_BASE_URL"], config["COINGECKO_API_KEY"], config["COINGECKO_API_PLAN"],
        connect_timeout=config["COINGECKO_LIVE_CONNECT_TIMEOUT"],
        read_timeout=config["COINGECKO_LIVE_READ_TIMEOUT"],
        retries=config["COINGECKO_LIVE_RETRIES"],
        backoff=min(0.5, config["COINGECKO_LIVE_MAX_WAIT"]),
        max_wait=config["COINGECKO_LIVE_MAX_WAIT"],
    )


def find_coin(client, coin):
    """Return the market entry whose id is coin, else the largest-cap one whose symbol is coin, else None."""
    for filters in ({"ids": coin}, {"symbols": coin}):
        found = [item for item in client.markets(per_page=50, **filters)
                 if item.get("id") == coin or str(item.get("symbol", "")).lower() == coin]
        if found:
            return max(found, key=lambda item: _number(item.get("market_cap")) or 0)
    return None


def _number(value):
    """Return value as a finite Decimal, or None for null, text or non-finite values."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def form_values(item):
    """Return ({form field: plain decimal text}, [fields CoinGecko left empty]) for a market entry."""
    values, missing = {}, []
    for field, name in FORM_FIELDS.items():
        number = _number(item.get(name))
        if number is None:
            missing.append(field)
        else:
            values[field] = format(number, "f")  # 0.000012, not 1.2e-05, in the form
    return values, missing


class RemoteQuoteCache:
    """CoinGecko's recent answers (market entries by base URL and coin), each kept for COINGECKO_LIVE_CACHE_SECONDS
    so repeated clicks spare the remote API's rate limit. A cache of a remote API, not of the market store."""

    name = "coingecko_quotes"
    size = 256

    def __init__(self):
        self.lock = threading.Lock()
        self.entries = {}

    def get(self, key, ttl):
        """Return the entry kept under key if it is younger than ttl seconds, else None."""
        with self.lock:
            kept = self.entries.get(key)
        return kept[1] if kept and time.monotonic() - kept[0] < ttl else None

    def put(self, key, item, made_at):
        """Keep item under key, made at made_at (time.monotonic()); all go when the cache is full."""
        with self.lock:
            if len(self.entries) >= self.size:
                self.entries.clear()
            self.entries[key] = (made_at, item)


@bp.record_once
def _add_quote_cache(state):
    state.app.extensions[RemoteQuoteCache.name] = RemoteQuoteCache()


def lookup(coin):
    """Find coin on CoinGecko, remembering recent answers so repeated clicks spare the rate limit."""
    cache = current_app.extensions[RemoteQuoteCache.name]
    ttl, now = current_app.config["COINGECKO_LIVE_CACHE_SECONDS"], time.monotonic()
    key = (current_app.config["COINGECKO_BASE_URL"], coin)
    cached = cache.get(key, ttl)
    if cached is not None:
        return cached
    with _client() as client:
        item = find_coin(client, coin)
    if item is not None and ttl > 0:
        cache.put(key, item, now)
    return item


def _home(**params):
    return redirect(request.script_root + "/?" + urlencode(params))


@bp.get("/fill")
def fill():
    """Look the coin up and send the person back to the home form, filled or with a message."""
    coin = request.args.get("coin", "").strip().lower()
    if not coin:
        abort(400, description=f"coin: missing; {COIN_RULE}")
    if not COIN_PATTERN.fullmatch(coin):
        abort(400, description=f"coin: not a coin id or symbol; {COIN_RULE}")
    try:
        item = lookup(coin)
    except UnreachableError as error:
        log.warning("live fill for %r: %s", coin, error)
        return _home(live_error="offline", live_coin=coin)
    except RateLimitedError as error:
        log.warning("live fill for %r: %s", coin, error)
        return _home(live_error="busy", live_coin=coin)
    except CoinGeckoError as error:
        log.warning("live fill for %r: %s", coin, error)
        return _home(live_error="error", live_coin=coin)
    if item is None:
        return _home(live_error="unknown", live_coin=coin)
    values, missing = form_values(item)
    params = {**values, "live_coin": str(item.get("id") or coin)}
    if missing:
        params["live_missing"] = ",".join(missing)
    return _home(**params)


@dataclass(frozen=True)
class LiveFill:
    """What the fill partial shows: where to submit, the coin last asked for, and a message."""

    action: str
    coin: str = ""
    message: str = ""
    is_error: bool = False
    coin_invalid: bool = False  # only an unknown coin is the typed value's fault, not offline or busy


def live_fill_status(args):
    """Turn the query parameters the fill view redirected with into the partial's state."""
    coin = args.get("live_coin", "").strip().lower()
    coin = coin if COIN_PATTERN.fullmatch(coin) else ""  # only ever echo a well-formed coin name
    error = args.get("live_error", "")
    action = url_for("live.fill")
    if error in MESSAGES:
        return LiveFill(action, coin, MESSAGES[error].format(coin=coin or "?"), is_error=True,
                        coin_invalid=error == "unknown")
    if not coin:
        return LiveFill(action)
    missing = [FIELD_LABELS[f] for f in args.get("live_missing", "").split(",") if f in FIELD_LABELS]
    if missing:
        return LiveFill(action, coin, f"Filled from CoinGecko's current values for {coin}, but it has no "
                                      f"{' or '.join(missing)}: type {'it' if len(missing) == 1 else 'them'} "
                                      "yourself.", is_error=True)
    return LiveFill(action, coin, f"Filled from CoinGecko's current values for {coin}.")


@bp.app_context_processor
def inject_live_fill():
    """Give every template `live_fill`, which templates/live/_fill.html needs."""
    return {"live_fill": live_fill_status(request.args) if request else None}
