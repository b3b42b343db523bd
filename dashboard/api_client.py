"""The dashboard's client of the liquidity predictor's public JSON API (/api/v1): each call, and why one failed."""

import math
import os
from urllib.parse import quote

import requests

DEFAULT_API_URL = "http://127.0.0.1:5000"  # where `make run` serves the app
TIMEOUT_SECONDS = (3.05, 30)  # connect, read: a stopped app fails fast, a cold store may take a while to read
MOST_COINS = 500  # the API's largest page


def api_url(environ=os.environ):
    """Return the API's base URL: LIQUIDITY_API_URL, else the local app."""
    return (environ.get("LIQUIDITY_API_URL") or DEFAULT_API_URL).strip().rstrip("/")


class ApiProblem(Exception):
    """A call that gave no answer; its message is what the dashboard shows."""


class ApiUnreachable(ApiProblem):
    """Nothing answered at the API's address."""


class ApiError(ApiProblem):
    """The API answered with an error: its own message and, for bad input, each field's reason."""

    def __init__(self, status, message, errors=()):
        super().__init__(message)
        self.status = status
        self.errors = list(errors)  # (field path, reason)


def number(value):
    """Return value as a float, None when missing or not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


class LiquidityApi:
    """The JSON API at base_url."""

    def __init__(self, base_url, session=None, timeout=TIMEOUT_SECONDS):
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout

    def _call(self, method, path, **kwargs):
        """Return the JSON object the API answers, or raise ApiUnreachable or ApiError."""
        try:
            response = self.session.request(method, f"{self.base_url}/api/v1{path}", timeout=self.timeout,
                                            headers={"Accept": "application/json"}, **kwargs)
        except requests.Timeout:
            raise ApiUnreachable(f"The liquidity API at {self.base_url} did not answer in time. "
                                 "Try again in a moment.") from None
        except requests.RequestException:
            raise ApiUnreachable(f"The liquidity API at {self.base_url} cannot be reached. Check that the app is "
                                 "running there (`make run` starts it) or set LIQUIDITY_API_URL to its "
                                 "address.") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not response.ok:
            if isinstance(body, dict) and isinstance(body.get("message"), str):
                errors = [(item.get("path"), item.get("reason")) for item in body.get("errors") or ()
                          if isinstance(item, dict)]
                raise ApiError(response.status_code, body["message"], errors)
            raise ApiError(response.status_code, f"The API answered {response.status_code} {response.reason} "
                                                 "without saying why.")
        if not isinstance(body, dict):
            raise ApiError(response.status_code, f"The answer from {self.base_url} is not the liquidity API's: "
                                                 "check LIQUIDITY_API_URL.")
        return body

    def movers(self, horizon, count, cap="", crosses=""):
        """Return the /coins page of the count coins whose forecast falls most, horizon days ahead; cap keeps one
        market-cap band (large, mid, small, micro), crosses="down" the coins forecast to fall from High to Low."""
        params = {"sort": "change", "order": "asc", "horizon": horizon, "per_page": count}
        params.update({name: value for name, value in (("cap", cap), ("crosses", crosses)) if value})
        return self._call("GET", "/coins", params=params)

    def largest_coins(self, count=MOST_COINS):
        """Return the /coins page of the count largest coins by market cap."""
        return self._call("GET", "/coins", params={"sort": "mkt_cap", "order": "desc", "per_page": count})

    def coin_forecast(self, coin_id):
        """Return the coin's forecast for every horizon of the model."""
        return self._call("GET", f"/coins/{quote(coin_id, safe='')}/forecast")

    def coin_history(self, coin_id, days):
        """Return the coin's stored history over its last days days."""
        return self._call("GET", f"/coins/{quote(coin_id, safe='')}", params={"days": days})

    def predict(self, inputs):
        """Return the API's 1-day forecast of one coin from its four inputs (JSON keys of /api/v1/predict)."""
        return self._call("POST", "/predict", json=inputs)
