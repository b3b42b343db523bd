"""Alert rules: what a rule is and how it is checked, which forecasts raise an alert, and the webhook delivery.

No web code: the /alerts page and the API check rules with check_rule, and the daily command raises and delivers
alerts with raise_and_deliver (the rows live in liquidity/store/alerts.py).
"""

import json
import math
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

HORIZONS = (1, 7, 30)
# condition -> what it means, in the words the page and the API documentation use
CONDITIONS = {
    "turns_low": "the forecast level turns Low (High today, Low forecast)",
    "drop": "the forecast score is more than X below today's score",
    "upper_below": "the upper end of the 80 % interval is below Y",
}
# The conditions that take a number, and the range it must lie in (low exclusive, high inclusive).
VALUE_RANGES = {"drop": (0.0, 1.0), "upper_below": (0.0, 1.0)}
MAX_NAME = 100
MAX_COINS = 500
MAX_COIN_ID = 200
MAX_URL = 2000
RULE_FIELDS = ("name", "coins", "horizon", "condition", "value", "webhook_url")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Webhook delivery: a short timeout, a few retries with back-off; the daily command's options override them.
WEBHOOK_TIMEOUT_S = 5.0
WEBHOOK_RETRIES = 2
WEBHOOK_BACKOFF_S = 1.0
USER_AGENT = "crypto-liquidity-predictor-alerts/1"


@dataclass(frozen=True)
class Rule:
    """A checked alert rule; coins None means every coin."""

    name: str
    coins: tuple | None
    horizon: int
    condition: str
    value: float | None
    webhook_url: str | None
    id: int | None = None
    created_at: str | None = None

    def describe(self):
        """Say what the rule watches, in plain words."""
        ahead = "1 day ahead" if self.horizon == 1 else f"{self.horizon} days ahead"
        if self.condition == "turns_low":
            what = "the forecast level turns Low"
        elif self.condition == "drop":
            what = f"the forecast score drops by more than {self.value:g}"
        else:
            what = f"the top of the 80 % interval is below {self.value:g}"
        coins = "any coin" if self.coins is None else ", ".join(self.coins)
        return f"{what}, {ahead}, for {coins}"

    def webhook_host(self):
        """Return the webhook's scheme and host only: the path of a webhook URL is often its secret."""
        return webhook_host(self.webhook_url)


def webhook_host(url):
    """Return scheme://host[:port] of url, or None."""
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def check_url(url):
    """Return why url cannot be a webhook, or None."""
    if len(url) > MAX_URL:
        return f"must be at most {MAX_URL} characters"
    if CONTROL.search(url) or " " in url:
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "must name a host, e.g. https://hooks.example.com/alerts"
    if port == 0:
        return "must not use port 0"
    return None


def _text(errors, data, name, limit, required):
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.append((name, "is required"))
        return None
    if not isinstance(value, str):
        errors.append((name, "must be text"))
        return None
    value = value.strip()
    if len(value) > limit:
        errors.append((name, f"must be at most {limit} characters"))
    elif CONTROL.search(value):
        errors.append((name, "must not contain control characters"))
    return value


def coin_list(text):
    """Return the coin ids of the form's text box (separated by commas or new lines), None when it names none."""
    ids = [part.strip() for part in re.split(r"[,\n]", text or "") if part.strip()]
    return ids or None


# The reason a watchlist's coin is refused when the store does not hold it (the API answers 404 for it alone).
UNKNOWN_COIN = "is not a coin in the market store"


def _coins(errors, data, known_coins):
    raw = data.get("coins")
    if raw is None:
        return None
    if not isinstance(raw, list):
        errors.append(("coins", "must be a list of coin ids, or null for every coin"))
        return None
    if not raw:
        errors.append(("coins", "must hold at least one coin id, or be null for every coin"))
        return None
    if len(raw) > MAX_COINS:
        errors.append(("coins", f"must hold at most {MAX_COINS} coin ids, not {len(raw)}"))
        return None
    coins = {}  # coin id -> its position in the list, for the error's path
    for index, coin in enumerate(raw):
        if not isinstance(coin, str) or not coin.strip():
            errors.append((f"coins[{index}]", "must be a coin id (text)"))
        elif len(coin.strip()) > MAX_COIN_ID or CONTROL.search(coin):
            errors.append((f"coins[{index}]", "is not a coin id"))
        else:
            coins.setdefault(coin.strip(), index)
    if known_coins is not None and coins:
        held = known_coins(tuple(coins))
        errors.extend((f"coins[{index}]", f"{coin!r} {UNKNOWN_COIN} (use the id in the coin page's address, /coins/ID)")
                      for coin, index in coins.items() if coin not in held)
    return tuple(coins)


def _horizon(errors, data):
    raw = data.get("horizon")
    if raw is None or raw == "":
        errors.append(("horizon", f"is required: one of {', '.join(map(str, HORIZONS))} (days ahead)"))
        return None
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, int) or raw not in HORIZONS:
        errors.append(("horizon", f"must be one of {', '.join(map(str, HORIZONS))} (days ahead)"))
        return None
    return raw


def _value(errors, data, condition):
    raw = data.get("value")
    if raw == "":
        raw = None
    if condition not in VALUE_RANGES:
        if raw is not None and condition is not None:
            errors.append(("value", f"must be empty: the condition {condition} takes no number"))
        return None
    if raw is None:
        low, high = VALUE_RANGES[condition]
        errors.append(("value", f"is required for {condition}: a score difference or level above {low:g} and at "
                                f"most {high:g}, e.g. 0.2"))
        return None
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            errors.append(("value", "must be a number, e.g. 0.2"))
            return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        errors.append(("value", "must be a number, e.g. 0.2"))
        return None
    low, high = VALUE_RANGES[condition]
    if not low < raw <= high:
        errors.append(("value", f"must be above {low:g} and at most {high:g} (scores run from 0 to 1)"))
        return None
    return float(raw)


def check_rule(data, known_coins=None):
    """Return (Rule, []) from the mapping data (the API's JSON object or the form's fields), or (None, errors): each
    error a (field, reason).

    known_coins: a function given the watchlist's ids that returns those the store holds; a watchlist naming another
    is refused. None skips that check.
    """
    errors = [(name, "is not a field of an alert rule") for name in data if name not in RULE_FIELDS]
    name = _text(errors, data, "name", MAX_NAME, required=True)
    coins = _coins(errors, data, known_coins)
    horizon = _horizon(errors, data)
    condition = data.get("condition")
    if not isinstance(condition, str) or condition not in CONDITIONS:  # an object or a list is not hashable
        errors.append(("condition", f"must be one of {', '.join(CONDITIONS)}"))
        condition = None
    value = _value(errors, data, condition)
    url = _text(errors, data, "webhook_url", MAX_URL + 1, required=False)
    if url is not None:
        reason = check_url(url)
        if reason:
            errors.append(("webhook_url", reason))
    if errors:
        return None, errors
    return Rule(name=name, coins=coins, horizon=horizon, condition=condition, value=value, webhook_url=url), []


def _finite(value):
    return None if value is None or not math.isfinite(value) else float(value)


def matches(rule, score, forecast_score, high80, threshold):
    """Return True when one coin's forecast at the rule's horizon meets the rule's condition."""
    if forecast_score is None:
        return False
    if rule.condition == "turns_low":
        return score is not None and score >= threshold and forecast_score < threshold
    if rule.condition == "drop":
        return score is not None and score - forecast_score > rule.value
    return high80 is not None and high80 < rule.value


def alert_message(rule, forecast):
    """Say in one sentence what the alert is about."""
    name = forecast["coin"] or forecast["coin_id"]
    if forecast.get("symbol"):
        name = f"{name} ({forecast['symbol']})"
    ahead = "1 day ahead" if rule.horizon == 1 else f"{rule.horizon} days ahead"
    today = "unknown" if forecast["score"] is None else f"{forecast['score']:.2f}"
    interval = ("" if forecast["low80"] is None or forecast["high80"] is None else
                f" (80 % interval {forecast['low80']:.2f} to {forecast['high80']:.2f})")
    return (f"{name}: forecast {forecast['level']} {ahead} on {forecast['target_date'] or 'its target date'}, "
            f"score {forecast['forecast_score']:.2f}{interval}, against {today} on {forecast['snapshot_date']}. "
            f"Rule \"{rule.name}\": {rule.describe()}.")


def alert_payload(rule, forecast, message):
    """Return the JSON object a webhook receives for one alert (missing numbers are null)."""
    return {
        "rule": {"id": rule.id, "name": rule.name, "condition": rule.condition, "value": rule.value,
                 "horizon": rule.horizon},
        "coin_id": forecast["coin_id"], "coin": forecast["coin"], "symbol": forecast["symbol"],
        "snapshot_date": forecast["snapshot_date"], "target_date": forecast["target_date"],
        "horizon": rule.horizon, "score": _finite(forecast["score"]),
        "forecast_score": _finite(forecast["forecast_score"]), "level": forecast["level"],
        "interval_80": {"low": _finite(forecast["low80"]), "high": _finite(forecast["high80"])},
        "model_version": forecast["model_version"], "message": message,
    }


def raise_alerts(rules, forecasts, threshold):
    """Return (rule, forecast) for every rule a forecast meets: forecasts are mappings with coin_id, horizon, score,
    forecast_score and high80 (liquidity.store.alerts.daily_forecasts)."""
    by_horizon = {}
    for forecast in forecasts:
        by_horizon.setdefault(forecast["horizon"], []).append(forecast)
    raised = []
    for rule in rules:
        watched = None if rule.coins is None else set(rule.coins)
        for forecast in by_horizon.get(rule.horizon, ()):
            if watched is not None and forecast["coin_id"] not in watched:
                continue
            if matches(rule, _finite(forecast["score"]), _finite(forecast["forecast_score"]),
                       _finite(forecast["high80"]), threshold):
                raised.append((rule, forecast))
    return raised


@dataclass(frozen=True)
class Delivery:
    """How one webhook delivery went: delivered or not, after how many attempts, and why not."""

    delivered: bool
    attempts: int
    error: str | None = None


def post_webhook(url, payload, *, timeout=WEBHOOK_TIMEOUT_S, retries=WEBHOOK_RETRIES, backoff=WEBHOOK_BACKOFF_S,
                 sleep=time.sleep, session=None):
    """POST payload as JSON to url: up to 1 + retries attempts, waiting backoff, 2 x backoff, ... between them; a
    2xx answer delivers it. Never raises: return a Delivery saying what happened."""
    import requests

    body = json.dumps(payload, allow_nan=False).encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    own = session is None
    session = session or requests.Session()
    error = None
    attempts = 0
    try:
        for attempt in range(retries + 1):
            if attempt:
                sleep(backoff * 2 ** (attempt - 1))
            attempts += 1
            try:
                # No redirects: a receiver that moved must be set in the rule, not followed blindly.
                response = session.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
            except requests.Timeout:
                error = f"no answer within {timeout:g} s"
                continue
            except requests.RequestException as failure:
                error = f"cannot connect: {failure.__class__.__name__}"
                continue
            response.close()
            if 200 <= response.status_code < 300:
                return Delivery(True, attempts)
            error = f"the receiver answered HTTP {response.status_code}"
            if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
                break  # the receiver refuses this request: sending it again would not change its mind
    finally:
        if own:
            session.close()
    return Delivery(False, attempts, f"{error} (after {attempts} attempt(s))")


@dataclass
class AlertRun:
    """What one evaluation of the rules did."""

    rules: int = 0
    raised: int = 0  # new alerts recorded this run
    delivered: int = 0
    failed: int = 0
    error: str | None = None  # why the rules could not be evaluated

    def summary(self):
        if self.error:
            return f"alerts not evaluated: {self.error}"
        if not self.rules:
            return "alerts: no alert rule is set (add one on /alerts)"
        return (f"alerts: {self.raised:,} new alert(s) raised by {self.rules:,} rule(s); webhooks: "
                f"{self.delivered:,} delivered, {self.failed:,} failed (see /alerts)")


def raise_and_deliver(store, model_version, threshold, date, *, timeout=WEBHOOK_TIMEOUT_S, retries=WEBHOOK_RETRIES,
                      backoff=WEBHOOK_BACKOFF_S, sleep=time.sleep):
    """Check every rule against the daily forecasts of date by model_version, record each new alert once, and POST
    each alert of date not yet delivered to its rule's webhook; return an AlertRun. Never raises for a webhook."""
    from liquidity.store.alerts import claim_alert, daily_forecasts, finish_delivery, record_alerts, rules, undelivered

    run = AlertRun()
    kept = rules(store)
    run.rules = len(kept)
    if kept:
        forecasts = daily_forecasts(store, date, model_version)
        raised = []
        for rule, forecast in raise_alerts(kept, forecasts, threshold):
            message = alert_message(rule, forecast)
            raised.append((rule, forecast, message, alert_payload(rule, forecast, message)))
        run.raised = record_alerts(store, raised)
    for alert_id, url, payload in undelivered(store, date):
        if not claim_alert(store, alert_id):
            continue  # another run is delivering it
        delivery = post_webhook(url, payload, timeout=timeout, retries=retries, backoff=backoff, sleep=sleep)
        finish_delivery(store, alert_id, delivery)
        run.delivered += delivery.delivered
        run.failed += not delivery.delivered
    return run
