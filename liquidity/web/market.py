"""What the coin pages and the coin API share: the listing's query and its page of the market table, the query's
days and date, and a coin's forecast logged as it is served (the read model, liquidity/web/readmodel.py, holds the
data).
"""

from dataclasses import dataclass
from datetime import date as Date

import numpy as np

from liquidity.web.extensions import prediction_logs

PER_PAGE = 50
MAX_PER_PAGE = 500
HISTORY_DAYS = (30, 90, 365)
MAX_DAYS = 3650
MAX_PAGE = 1_000_000
# listing sort key -> column of the market table
SORT_COLUMNS = {"coin": "coin", "symbol": "symbol", "score": "score", "forecast": "forecast_score",
                "change": "change", "volume": "volume", "mkt_cap": "mkt_cap", "price": "price"}
TEXT_SORTS = ("coin", "symbol")
# The forecast change is read for drops first: ascending (the most negative change) unless asked otherwise.
ASCENDING_SORTS = (*TEXT_SORTS, "change")
LEVELS = ("High", "Low")
# ?crosses= -> (today's level, the forecast's level): a coin forecast to cross the High/Low threshold.
CROSSINGS = {"down": ("High", "Low"), "up": ("Low", "High")}
# ?cap= -> (lowest, highest) market cap in USD, lowest included: the bands a risk desk names coins by.
CAP_BANDS = {"large": (10e9, float("inf")), "mid": (1e9, 10e9), "small": (100e6, 1e9), "micro": (0.0, 100e6)}
CAP_BAND_NAMES = {"large": "Large (over $10B)", "mid": "Mid ($1B to $10B)", "small": "Small ($100M to $1B)",
                  "micro": "Micro (under $100M)"}
MAX_QUERY = 100
DEFAULT_HORIZON = 1  # the next day: what a forecast without ?horizon= has always been


@dataclass
class Listing:
    """The listing's query: search text, filters (forecast level, threshold crossing, market-cap band), sort key and
    direction, page and page size."""

    q: str = ""
    sort: str = "mkt_cap"
    order: str = "desc"
    page: int = 1
    per_page: int = PER_PAGE
    horizon: int = DEFAULT_HORIZON  # days ahead of the forecast shown and sorted by
    level: str = ""  # "High" or "Low": the forecast's level; "" any
    crosses: str = ""  # a key of CROSSINGS; "" any
    cap: str = ""  # a key of CAP_BANDS; "" any

    def args(self, **changes):
        """Return the query string of this listing with changes, leaving defaults out."""
        values = {"q": self.q, "sort": self.sort, "order": self.order, "page": self.page, "per_page": self.per_page,
                  "horizon": self.horizon, "level": self.level, "crosses": self.crosses, "cap": self.cap, **changes}
        defaults = Listing()
        # Which order is the default depends on the sort (parse_listing's rule): an order equal to it goes unsaid.
        defaults.order = "asc" if values["sort"] in ASCENDING_SORTS else "desc"
        return {name: value for name, value in values.items() if value != getattr(defaults, name)}

    def filter_args(self):
        """Return the query string of every row the listing selects (no page): what the download and the API take."""
        return self.args(page=1, per_page=PER_PAGE)

    def filters(self):
        """Return the listing without its page: what selects and orders the rows."""
        return (self.q, self.sort, self.order, self.horizon, self.level, self.crosses, self.cap)

    def key(self):
        """Return the listing as a hashable cache key."""
        return (*self.filters(), self.page, self.per_page)


def _whole(raw, name, low, high, errors):
    try:
        value = int(raw)
    except (TypeError, ValueError):
        errors.append((name, f"must be a whole number from {low} to {high}, not {raw!r}"))
        return None
    if not low <= value <= high:
        errors.append((name, f"must be from {low} to {high}, not {value}"))
        return None
    return value


def parse_horizon(raw, horizons):
    """Return (horizon, error): one of the model's horizons (days ahead), DEFAULT_HORIZON when raw is None."""
    if raw is None:
        return DEFAULT_HORIZON, None
    choices = " or ".join(str(h) for h in horizons)
    try:
        horizon = int(raw)
    except (TypeError, ValueError):
        days = raw.strip().lower().removesuffix("d") if isinstance(raw, str) else ""
        if days.isdigit():  # "7d": the unit the CSV's column names carry, not the parameter's
            return None, f"must be {choices} (days ahead), not {raw!r}: write the number of days alone, e.g. {days}"
        return None, f"must be {choices} (days ahead), not {raw!r}"
    if horizon not in horizons:
        return None, f"must be {choices} (days ahead: the model's horizons), not {horizon}"
    return horizon, None


def parse_listing(args, horizons=(DEFAULT_HORIZON,)):
    """Return (Listing, errors) from query args; each error is (parameter, reason). horizons: the model's."""
    listing, errors = Listing(), []
    horizon, error = parse_horizon(args.get("horizon"), horizons)
    if error:
        errors.append(("horizon", error))
    else:
        listing.horizon = horizon
    q = args.get("q", "").strip()
    if len(q) > MAX_QUERY:
        errors.append(("q", f"must be at most {MAX_QUERY} characters"))
    listing.q = q[:MAX_QUERY]
    sort = args.get("sort", listing.sort)
    if sort not in SORT_COLUMNS:
        errors.append(("sort", f"must be one of {', '.join(SORT_COLUMNS)}, not {sort!r}"))
    else:
        listing.sort = sort
    order = args.get("order", "asc" if sort in ASCENDING_SORTS else "desc")
    if order not in ("asc", "desc"):
        errors.append(("order", f"must be asc or desc, not {order!r}"))
    else:
        listing.order = order
    level = args.get("level", "").strip()
    if level.capitalize() in LEVELS:
        listing.level = level.capitalize()
    elif level:
        errors.append(("level", f"must be High or Low (the forecast's level), not {level[:MAX_QUERY]!r}"))
    for name, choices in (("crosses", CROSSINGS), ("cap", CAP_BANDS)):
        value = args.get(name, "").strip().lower()
        if value in choices:
            setattr(listing, name, value)
        elif value:
            errors.append((name, f"must be one of {', '.join(choices)}, not {value[:MAX_QUERY]!r}"))
    if "page" in args:
        listing.page = _whole(args["page"], "page", 1, MAX_PAGE, errors) or 1
    if "per_page" in args:
        listing.per_page = _whole(args["per_page"], "per_page", 1, MAX_PER_PAGE, errors) or PER_PAGE
    return listing, errors


def matching(table, listing):
    """Return the rows of table (a horizon's view of the market table) the listing selects, in its order."""
    keep = np.ones(len(table), dtype=bool)
    if listing.q:
        needle = listing.q.lower()
        keep &= (table["coin"].str.lower().str.contains(needle, regex=False)
                 | table["symbol"].str.lower().str.contains(needle, regex=False)
                 | table["coin_id"].str.lower().str.contains(needle, regex=False)).to_numpy(dtype=bool)
    if listing.level:
        keep &= (table["level"] == listing.level).to_numpy(dtype=bool)
    if listing.crosses:
        today, ahead = CROSSINGS[listing.crosses]
        keep &= ((table["level_today"] == today) & (table["level"] == ahead)).to_numpy(dtype=bool)
    if listing.cap:
        low, high = CAP_BANDS[listing.cap]
        caps = table["mkt_cap"].to_numpy(dtype=float)
        keep &= (caps >= low) & (caps < high)
    rows = table if keep.all() else table[keep]
    column = SORT_COLUMNS[listing.sort]
    key = (lambda values: values.str.lower()) if listing.sort in TEXT_SORTS else None
    return rows.sort_values(column, ascending=listing.order == "asc", kind="stable", key=key, na_position="last")


def select(table, listing):
    """Return (the rows of table on the listing's page, rows matching, pages)."""
    return page_of(matching(table, listing), listing)


def page_of(rows, listing):
    """Return (the rows on the listing's page, rows, pages) of rows the listing selected."""
    total = len(rows)
    pages = max(1, -(-total // listing.per_page))
    start = (listing.page - 1) * listing.per_page
    return rows.iloc[start:start + listing.per_page], total, pages


def parse_days(raw, default=90):
    """Return (days, error): a whole number of days from 1 to MAX_DAYS, or the reason it is not."""
    if raw is None:
        return default, None
    errors = []
    days = _whole(raw, "days", 1, MAX_DAYS, errors)
    return days, (errors[0][1] if errors else None)


def parse_date(raw):
    """Return (date text or None, error)."""
    if raw is None:
        return None, None
    try:
        return Date.fromisoformat(raw).isoformat(), None
    except ValueError:
        return None, f"must be a date like 2024-03-16, not {raw!r}"


def coin_log_rows(forecast):
    """Return the prediction log's rows for a CoinForecast, one per horizon when it carries them (a
    CoinHorizonsForecast), with the coin's stored row it came from."""
    h1 = forecast.h1
    inputs = {"coin_id": forecast.coin_id, "snapshot_date": forecast.date, "volume": forecast.volume,
              "mkt_cap": forecast.mkt_cap, "h1": None if h1 is None or h1 != h1 else h1, "price": forecast.price,
              "score": forecast.score}
    horizons = getattr(forecast, "horizons", ())
    if not horizons:
        return [{**inputs, "forecast_score": forecast.forecast_score, "level": forecast.level,
                 "band_low": forecast.band_low, "band_high": forecast.band_high}]
    # A longer forecast's band is its own 80 % interval, as the 1-day one's is: the log reads alike for every horizon.
    return [{**inputs, "forecast_score": h.forecast_score, "level": h.level, "band_low": h.low80,
             "band_high": h.high80, "horizon": h.horizon, "target_date": h.target_date, "low80": h.low80,
             "high80": h.high80, "low90": h.low90, "high90": h.high90} for h in horizons]


def forecast_and_log(market, model, coin_id, source, date=None):
    """Return (CoinHorizonsForecast, the coin's inputs that day) from the MarketState market; log the forecast,
    one row per horizon.

    Raises CoinNotFound or ForecastError.
    """
    forecast = market.coin_forecast(coin_id, date)
    # The forecast carries the row it came from: no second read of the store on the request's path.
    row = {"volume": forecast.volume, "mkt_cap": forecast.mkt_cap, "1h": forecast.h1, "price": forecast.price}
    prediction_logs.log_forecasts(coin_log_rows(forecast), source, model.version)
    return forecast, row
