"""GET /coins (the market), GET /coins/<coin_id> (one coin's history and forecast), GET /coins/pick (fill the form)."""

import math
from datetime import date as Date
from datetime import timedelta
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from markupsafe import Markup

from liquidity.csvsafe import neutralise_frame
from liquidity.store import StoreError
from liquidity.web import ModelUnavailable, current_market, current_model
from liquidity.web.charts import line_chart
from liquidity.web.freshness import today
from liquidity.web.market import CAP_BAND_NAMES, LEVELS, MAX_DAYS, forecast_and_log, parse_days, parse_listing

bp = Blueprint("coins", __name__)

PAST_FORECASTS = 30
SORT_CHOICES = (("mkt_cap", "Market cap"), ("change", "Forecast change"), ("forecast", "Forecast score"),
                ("score", "Score today"), ("volume", "24h volume"), ("price", "Price"), ("coin", "Name"),
                ("symbol", "Symbol"))
COLUMNS = (("coin", "Coin"), ("symbol", "Symbol"), ("score", "Score today"), ("forecast", "Forecast"),
           ("change", "Change"), (None, "Level"), (None, "80 % interval"), ("volume", "24h volume"),
           ("mkt_cap", "Market cap"))
CROSSING_CHOICES = (("down", "High today, Low forecast"), ("up", "Low today, High forecast"))
# The risk desk's first question, "which coins are about to dry up?": the largest forecast drops a week ahead.
MOVERS_HORIZON = 7
# The download's columns: (market table column, CSV header), in the order a spreadsheet shows them.
CSV_COLUMNS = (("date", "snapshot_date"), ("horizon", "horizon_days"), ("target_date", "target_date"),
               ("coin_id", "coin_id"), ("coin", "coin"), ("symbol", "symbol"), ("score", "score_today"),
               ("level_today", "level_today"), ("forecast_score", "forecast_score"), ("level", "forecast_level"),
               ("change", "change"), ("low80", "interval_80_low"), ("high80", "interval_80_high"),
               ("volume", "volume_usd"), ("mkt_cap", "mkt_cap_usd"), ("price", "price_usd"))
# Scores rounded for people: the fourth decimal is well inside any interval.
CSV_SCORES = ("score", "forecast_score", "change", "low80", "high80")
# The coin page's periods: (?days= value, button text); "all" reads every stored day (up to MAX_DAYS).
RANGE_CHOICES = (("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("all", "All"))
# What an 80 % interval promises, in the one sentence every page says it with.
INTERVAL_MEANING = "In 8 of 10 past cases like this, the score turned out inside this range."


@bp.get("/coins")
def index():
    """List the latest stored snapshot with each coin's forecast ?horizon= days ahead (1 by default): searchable,
    sortable, paginated."""
    model = current_model()
    listing, errors = parse_listing(request.args, model.horizons)
    context = {"listing": listing, "columns": COLUMNS, "sort_choices": SORT_CHOICES, "horizons": model.horizons,
               "interval_meaning": INTERVAL_MEANING, "model": model, "crossing_choices": CROSSING_CHOICES,
               "cap_choices": tuple(CAP_BAND_NAMES.items()), "levels": LEVELS}
    if errors:
        return render_template("coins/index.html", errors=errors, rows=None, total=0, pages=1, date=None,
                               **context), 400
    market = current_market()
    rows, total, pages, date = market.market_page(listing)
    if listing.page > pages:
        abort(404, description=f"Page {listing.page} does not exist: this listing has {pages} page(s).")
    target_date = (Date.fromisoformat(date) + timedelta(days=listing.horizon)).isoformat() if date else None

    def render():
        rows_html = Markup(render_template("coins/_rows.html", rows=rows))
        return render_template("coins/index.html", errors=[], rows=rows, rows_html=rows_html, total=total,
                               pages=pages, date=date, target_date=target_date, **context)

    # The page holds nothing of the visitor's (no form token, no session): it is made once per listing, store
    # version and day (its freshness line counts days), then served as made, as the API's list is.
    return market.rendered(("coins page", listing.key(), request.script_root, today().isoformat()), render)


@bp.get("/coins.csv")
def download():
    """Download every coin the listing selects (its filters, sort and ?horizon=; all pages) as CSV, formula-safe,
    with the snapshot date, horizon, forecast, change and 80 % interval."""
    model = current_model()
    listing, errors = parse_listing(request.args, model.horizons)
    if errors:
        abort(400, description="; ".join(f"{name}: {reason}" for name, reason in errors) + ".")
    market = current_market()

    def render():
        rows, date = market.market_rows(listing)
        table = rows.assign(horizon=listing.horizon)[[column for column, _ in CSV_COLUMNS]]
        table = table.round(dict.fromkeys(CSV_SCORES, 4)).rename(columns=dict(CSV_COLUMNS))
        return neutralise_frame(table).to_csv(index=False).encode("utf-8"), date

    data, date = market.rendered(("coins csv", listing.filters()), render)
    name = f"coins_{date or 'empty'}_{listing.horizon}d.csv"
    return Response(data, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.app_context_processor
def inject_movers_url():
    """Give templates `movers_url()`: the movers view (the largest forecast drops a week ahead, else at the model's
    longest horizon short of it)."""

    def movers_url():
        try:
            horizons = current_model().horizons
        except ModelUnavailable:
            horizons = (MOVERS_HORIZON,)
        horizon = MOVERS_HORIZON if MOVERS_HORIZON in horizons else max(horizons)
        return url_for("coins.index", sort="change", order="asc", horizon=horizon)

    return {"movers_url": movers_url}


def history_charts(history, forecast):
    """Return the coin page's charts: the score with the 1-day forecast made the snapshot before, then the forecasts
    at every horizon drawn at their target dates with their 80 % intervals; turnover; price."""
    coin = forecast.coin
    dates = history["date"].tolist()
    ahead = forecast.horizons
    today = Date.fromisoformat(forecast.date)
    # Every calendar day up to the longest horizon: the forecasts stand at their true distance from today.
    future = [(today + timedelta(days=day)).isoformat() for day in range(1, max(h.horizon for h in ahead) + 1)]
    labels = dates + future
    blank = [None] * len(future)
    scores = history["liquidity_score"].tolist() + blank
    # The forecast made on each date is for the next one: drawn one step later, where it can be checked.
    past = [None] + history["forecast_score"].tolist() + blank[1:]
    past_low = [None] + history["band_low"].tolist() + blank[1:]
    past_high = [None] + history["band_high"].tolist() + blank[1:]
    # Forecasts ahead: from today's score (known, so no width) to each horizon's target date.
    at = {len(dates) + h.horizon - 1: h for h in ahead}
    known_today = [None] * (len(dates) - 1) + [forecast.score]
    outlook = known_today + [at[i].forecast_score if i in at else None for i in range(len(dates), len(labels))]
    low = known_today + [at[i].low80 if i in at else None for i in range(len(dates), len(labels))]
    high = known_today + [at[i].high80 if i in at else None for i in range(len(dates), len(labels))]
    days_ahead = ", ".join(str(h.horizon) for h in ahead)
    score_chart = line_chart(f"{coin}: liquidity score, the forecast made the snapshot before, and the forecasts "
                             f"{days_ahead} day(s) ahead with their 80 % intervals", labels,
                             [("score", "s-score", scores), ("1-day forecast made the snapshot before", "s-forecast",
                                                             past),
                              (f"forecast {days_ahead} day(s) ahead", "s-ahead", outlook, True)],
                             y_min=0.0, y_max=1.0,
                             bands=[("band", past_low, past_high, "80 % interval of the past forecasts"),
                                    ("band-ahead", low, high, "80 % interval ahead")],
                             x_label="date", y_label="liquidity score (0 to 1)")
    turnover = (history["volume"] / history["mkt_cap"]).tolist()
    # A log axis where the turnover spans two decades or more (a stablecoin's can run from 0.1 % to 300 %).
    turnover_chart = line_chart(f"{coin}: turnover (24h volume / market cap)", dates,
                                [("turnover", "s-turnover", turnover)], y_min=0.0,
                                tick_format=lambda v: f"{v * 100:.3g} %", x_label="date",
                                y_label="24h volume, % of market cap", scale="auto")
    price_chart = line_chart(f"{coin}: price in USD", dates, [("price", "s-price", history["price"].tolist())],
                             tick_format=compact, x_label="date", y_label="price in USD", scale="auto")
    return {"score": score_chart, "turnover": turnover_chart, "price": price_chart}


def compact(value):
    if value == 0 or not math.isfinite(value):
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


@bp.get("/coins/<coin_id>")
def coin(coin_id):
    """Show one coin: today's forecasts at every horizon with their 80 % and 90 % intervals, its history and those
    forecasts as charts, past forecasts against outcomes; every horizon's forecast is logged."""
    from liquidity.forecasting import CoinNotFound, ForecastError

    model = current_model()
    market = current_market()
    chosen = request.args.get("days")
    days, error = (MAX_DAYS, None) if chosen == "all" else parse_days(chosen)
    if error:
        abort(400, description=f"days: {error} (or all).")
    try:
        forecast, row = forecast_and_log(market, model, coin_id, "coin page")
    except CoinNotFound:
        return gone_coin(market, coin_id, days, "all" if chosen == "all" else str(days))
    except ForecastError as error:
        abort(404, description=str(error))
    history = market.coin_forecast_history(coin_id, days)
    past = market.past_forecasts(coin_id, PAST_FORECASTS)
    period = "all" if chosen == "all" else str(days)
    return render_template("coins/coin.html", forecast=forecast, row=row, days=days, period=period,
                           range_choices=RANGE_CHOICES,
                           charts=history_charts(history, forecast), history=history, past=past,
                           model=model, interval_meaning=INTERVAL_MEANING,
                           calibration=market.calibration)


def gone_coin(market, coin_id, days, period):
    """Show a coin with stored history but no row in the latest snapshot: its history up to the day it was last seen,
    no forecast; 404 when the store never held it."""
    last, history = market.last_stored_rows(coin_id, days)
    if last is None:
        abort(404, description=f"No coin with the id {coin_id!r} is in the market store. Search for it on the coins "
                               "page.")
    latest = history.iloc[-1]
    coin, dates = latest["coin"], history["date"].tolist()
    charts = {
        "score": line_chart(f"{coin}: liquidity score, up to {last}", dates,
                            [("score", "s-score", history["liquidity_score"].tolist())], y_min=0.0, y_max=1.0,
                            x_label="date", y_label="liquidity score (0 to 1)"),
        "turnover": line_chart(f"{coin}: turnover (24h volume / market cap)", dates,
                               [("turnover", "s-turnover", (history["volume"] / history["mkt_cap"]).tolist())],
                               y_min=0.0, tick_format=lambda v: f"{v * 100:.3g} %", x_label="date",
                               y_label="24h volume, % of market cap", scale="auto"),
        "price": line_chart(f"{coin}: price in USD", dates, [("price", "s-price", history["price"].tolist())],
                            tick_format=compact, x_label="date", y_label="price in USD", scale="auto"),
    }
    return render_template("coins/gone.html", coin_id=coin_id, coin=coin, symbol=latest["symbol"], last_seen=last,
                           latest=market.latest, row=latest, history=history, days=days, period=period,
                           range_choices=RANGE_CHOICES, charts=charts)


def percent_text(fraction):
    """Return a fraction as the percent the form takes, in plain decimals (0.0125 -> '1.25')."""
    return format(round(fraction * 100, 10), "f").rstrip("0").rstrip(".") or "0"


@bp.get("/coins/pick")
def pick():
    """Fill the home form with a stored coin's latest volume, market cap, 1h change and price."""
    text = request.args.get("coin", "").strip()
    if not text:
        abort(400, description="coin: missing; type a coin's name, symbol or id, e.g. bitcoin or BTC.")
    if len(text) > 100:
        abort(400, description="coin: at most 100 characters.")
    market = current_market()
    coin_id = market.resolve_coin(text)
    if coin_id is None:
        return redirect(url_for("coins.index", q=text))  # let the person choose among near matches
    row = market.latest_row(coin_id)
    params = {"volume": format(row["volume"], "f").rstrip("0").rstrip("."),
              "mkt_cap": format(row["mkt_cap"], "f").rstrip("0").rstrip("."),
              "price": repr(float(row["price"])), "store_coin": coin_id, "store_date": row["date"]}
    if row["1h"] == row["1h"]:  # not NaN
        params["h1"] = percent_text(row["1h"])
    else:
        params["store_missing"] = "h1"
    return redirect(request.script_root + "/?" + urlencode(params))


@bp.app_context_processor
def inject_store_picker():
    """Give templates `store_picker()`: the picker's coins and message, read only when a template asks."""

    def store_picker():
        try:
            coins = current_market().picker_coins()
        except StoreError:  # the form still works without suggestions
            coins = []
        coin = request.args.get("store_coin", "")
        date = request.args.get("store_date", "")
        message = ""
        if coin:
            message = f"Filled from the stored snapshot of {coin} on {date}."
            if request.args.get("store_missing") == "h1":
                message += (" That snapshot has no 1h change (the daily history has none): leave it empty, and "
                            "the forecast is the coin's own, from its stored history.")
        return {"coins": coins, "coin": coin, "message": message, "action": url_for("coins.pick"),
                "coin_url": url_for("coins.coin", coin_id=coin) if coin else None}

    return {"store_picker": store_picker}
