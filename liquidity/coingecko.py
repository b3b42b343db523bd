"""The CoinGecko API client, shared by the ingest command and the web app's live fill (settings: liquidity.settings)."""

import email.utils
import time
from datetime import UTC, datetime

import requests

PER_PAGE = 250  # the endpoint's maximum page size
API_KEY_HEADERS = {"demo": "x-cg-demo-api-key", "pro": "x-cg-pro-api-key"}


class CoinGeckoError(RuntimeError):
    """A failed CoinGecko request, explained in one line."""


class UnreachableError(CoinGeckoError):
    """CoinGecko could not be reached or did not answer in time (offline, wrong URL, timeouts)."""


class RateLimitedError(CoinGeckoError):
    """CoinGecko kept answering 429 Too Many Requests."""


def _snippet(text, limit=120):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def retry_after_seconds(value, now=None):
    """Return the wait a Retry-After header asks for (seconds or an HTTP date), or None if unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


class CoinGeckoClient:
    """A small CoinGecko API client: timeouts, retries with backoff, Retry-After on 429, optional API key."""

    def __init__(self, base_url, api_key=None, plan="demo", *, connect_timeout=5.0, read_timeout=30.0,
                 retries=4, backoff=1.0, max_wait=60.0, sleep=time.sleep, session=None):
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.sleep = sleep
        self.requests_sent = 0
        self.session = session or requests.Session()
        self.session.headers["Accept"] = "application/json"
        self.session.headers["User-Agent"] = "liquidity-ingest/0.1 (+requests)"
        if api_key:
            self.session.headers[API_KEY_HEADERS[plan]] = api_key

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def _wait(self, attempt, retry_after=None):
        # Retry-After is the server's own word, so it wins over our backoff; both are capped.
        seconds = retry_after if retry_after is not None else self.backoff * (2 ** attempt)
        self.sleep(min(seconds, self.max_wait))

    def get_json(self, path, params=None):
        """GET base_url/path and return the parsed JSON body, retrying what is worth retrying."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        attempts = self.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            self.requests_sent += 1
            try:
                # No redirects: requests would carry the API key header to wherever it points.
                response = self.session.get(url, params=params, timeout=self.timeout, allow_redirects=False)
            except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as error:
                if last:
                    # ConnectTimeout is both: a server that never answered is reported as a time-out.
                    if isinstance(error, requests.exceptions.Timeout):
                        raise UnreachableError(f"CoinGecko at {self.base_url} did not answer in time "
                                               f"({attempts} attempts); try again later") from None
                    raise UnreachableError(f"cannot reach CoinGecko at {self.base_url} "
                                           f"(offline or wrong base URL; {attempts} attempts)") from None
                self._wait(attempt)
                continue
            except requests.exceptions.RequestException as error:
                raise CoinGeckoError(f"request to CoinGecko failed: {_snippet(error)}") from None
            status = response.status_code
            if status == 429:
                if last:
                    raise RateLimitedError(f"CoinGecko kept answering 429 Too Many Requests ({attempts} "
                                           "attempts); wait a minute or set COINGECKO_API_KEY")
                self._wait(attempt, retry_after_seconds(response.headers.get("Retry-After")))
                continue
            if status >= 500:
                if last:
                    raise CoinGeckoError(f"CoinGecko answered HTTP {status} ({attempts} attempts); try again later")
                self._wait(attempt)
                continue
            if 300 <= status < 400:
                raise CoinGeckoError(f"CoinGecko answered HTTP {status} (a redirect, not followed); check the base URL "
                                  f"{self.base_url}")
            if status in (401, 403):
                raise CoinGeckoError(f"CoinGecko refused the request (HTTP {status}): check COINGECKO_API_KEY and "
                                  f"COINGECKO_API_PLAN (a pro key needs the pro base URL)")
            if status >= 400:
                raise CoinGeckoError(f"CoinGecko answered HTTP {status}: {_snippet(response.text)}")
            try:
                return response.json()
            except ValueError:
                raise CoinGeckoError(f"CoinGecko sent a malformed (non-JSON) body for {path}: "
                                  f"{_snippet(response.text, 60)!r}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def markets(self, page=1, per_page=PER_PAGE, **filters):
        """Return one page of /coins/markets in USD by market cap, each coin a dict."""
        params = {"vs_currency": "usd", "order": "market_cap_desc", "per_page": per_page, "page": page,
                  "price_change_percentage": "1h,24h,7d", **filters}
        body = self.get_json("coins/markets", params)
        if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
            raise CoinGeckoError(f"CoinGecko sent an unexpected body for coins/markets page {page} "
                              f"(expected a list of coins, got {type(body).__name__})")
        return body
