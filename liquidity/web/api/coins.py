"""GET /api/v1/coins, /api/v1/coins/<coin_id>, /api/v1/coins/<coin_id>/forecast and /api/v1/monitor."""

import math
from datetime import date as Date
from datetime import timedelta

from flask import abort, current_app, request

from liquidity.web import current_market, current_model
from liquidity.web.api.views import bad_request, bp
from liquidity.web.caching import freshness, utc_now
from liquidity.web.errors import TITLES
from liquidity.web.extensions import prediction_logs
from liquidity.web.market import forecast_and_log, parse_date, parse_days, parse_horizon, parse_listing

PAST_FORECASTS = 10


def _number(value):
    """Return value as a float for JSON, None when missing or not finite (NaN and infinities are not JSON; a store
    written before the import refused them may hold a ratio that overflows)."""
    return None if value is None or not math.isfinite(value) else float(value)


def _text(value):
    """Return value as text for JSON, None when missing (pandas reads a blank text column back as NaN)."""
    return None if value is None or (isinstance(value, float) and value != value) else str(value)


def _answer(market, key, compute):
    """Return the JSON response of compute() (None when it found nothing), encoded once per store version and UTC
    day (its age_days counts from the day): encoding a 90-day history took longer than the rest of a request served
    from memory."""

    def encoded():
        payload = compute()
        return None if payload is None else current_app.json.response(payload).get_data()

    body = market.rendered((*key, utc_now().date().isoformat()), encoded)
    return None if body is None else current_app.response_class(body, mimetype=current_app.json.mimetype)


def _bad_parameters(errors):
    return bad_request(f"{len(errors)} invalid query parameter(s).", [(name, None, reason) for name, reason in errors])


def interval(low, high, level):
    """Return one interval as JSON: its ends and its nominal level in percent."""
    return {"low": _number(low), "high": _number(high), "level": level}


def band(low, high):
    """Return the 80 % interval under the name and shape `band` had before intervals were calibrated."""
    return {"low": _number(low), "high": _number(high), "percentiles": [10, 90]}


def horizon_answer(outlook):
    """Return one horizon's forecast (a HorizonOutlook) as JSON."""
    return {"horizon": outlook.horizon, "target_date": outlook.target_date,
            "forecast_score": _number(outlook.forecast_score), "level": outlook.level,
            "interval_80": interval(outlook.low80, outlook.high80, 80),
            "interval_90": interval(outlook.low90, outlook.high90, 90)}


def coin_answer(row):
    return {"coin_id": row.coin_id, "coin": row.coin, "symbol": row.symbol, "score": _number(row.score),
            "level_today": row.level_today if isinstance(row.level_today, str) else None,
            "forecast_score": _number(row.forecast_score), "level": row.level if row.level == row.level else None,
            "change": _number(row.change),
            "band": band(row.band_low, row.band_high), "interval_80": interval(row.low80, row.high80, 80),
            "interval_90": interval(row.low90, row.high90, 90),
            "volume_usd": _number(row.volume), "mkt_cap_usd": _number(row.mkt_cap), "price_usd": _number(row.price)}


@bp.get("/coins")
def coins():
    """Return the latest stored snapshot with each coin's forecast ?horizon= days ahead and its change from today's
    score; q, level, crosses, cap, sort (change: order=asc the largest drops first), order, page, per_page, horizon
    as on /coins."""
    model = current_model()
    listing, errors = parse_listing(request.args, model.horizons)
    if errors:
        return _bad_parameters(errors)
    market = current_market()

    def compute():
        rows, total, pages, date = market.market_page(listing)
        target = (Date.fromisoformat(date) + timedelta(days=listing.horizon)).isoformat() if date else None
        return {"date": date, "horizon": listing.horizon, "target_date": target, "horizons": list(model.horizons),
                **freshness(date), "model_version": model.version, "threshold": model.threshold, "total": total,
                "page": listing.page, "pages": pages, "per_page": listing.per_page,
                "coins": [coin_answer(row) for row in rows.itertuples()]}

    return _answer(market, ("api coins", listing.key()), compute)


class CoinLookup(Exception):
    """The path names no single coin: answer is the 300 (several coins share the symbol) or 404 to send."""

    def __init__(self, answer):
        super().__init__()
        self.answer = answer


def _lookup(market, text, what):
    """Return the coin_id the path's text names when it is not a stored id: a unique symbol or name of the latest
    snapshot (any case); raise CoinLookup with a 300 listing the ids of an ambiguous one, else a 404 with a hint.

    what: the message's reason when nothing matches ("No coin with the id ...").
    """
    matches = market.coin_matches(text)
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = [(coin_id, market.coin_names(coin_id)) for coin_id in matches]
        raise CoinLookup(({"error": "Multiple choices",
                           "message": f"{len(matches)} coins have the symbol or name {text!r}: ask for one by its "
                                      "id (coin_id), e.g. " + request.path.replace(f"/{text}", f"/{matches[0]}", 1)
                                      + ".",
                           "matches": [{"coin_id": coin_id, "coin": coin, "symbol": symbol,
                                        "path": request.path.replace(f"/{text}", f"/{coin_id}", 1)}
                                       for coin_id, (coin, symbol) in names]}, 300))
    raise CoinLookup(({"error": TITLES[404],
                       "message": f"{what} The path takes a coin's id (e.g. bitcoin) or a unique symbol (e.g. BTC); "
                                  f"find a coin with GET /api/v1/coins?q={text}."}, 404))


@bp.get("/coins/<coin_id>")
def coin(coin_id):
    """Return the coin's stored history over the last ?days= days (default 90) up to the latest stored date; the path
    takes a coin's id or a unique symbol."""
    days, error = parse_days(request.args.get("days"))
    if error:
        return _bad_parameters([("days", error)])
    market = current_market()

    def history_of(coin_id):
        def compute():
            rows = market.coin_history(coin_id, days)
            if rows.empty:
                return None
            last = rows.iloc[-1]
            history = [{"date": row["date"], "price_usd": _number(row["price"]),
                        "volume_usd": _number(row["volume"]), "mkt_cap_usd": _number(row["mkt_cap"]),
                        "change_1h": _number(row["1h"]), "change_24h": _number(row["24h"]),
                        "change_7d": _number(row["7d"]), "turnover": _number(row["volume"] / row["mkt_cap"]),
                        "score": _number(row["liquidity_score"])}
                       for row in rows.to_dict("records")]
            return {"coin_id": coin_id, "coin": last["coin"], "symbol": last["symbol"], "days": days,
                    "end": last["date"], **freshness(market.latest), "count": len(history), "history": history}

        return _answer(market, ("api coin", coin_id, days), compute)

    answer = history_of(coin_id)
    if answer is None:
        try:
            found = _lookup(market, coin_id, f"No coin with the id {coin_id!r} in the last {days} day(s) of the "
                                             "market store.")
        except CoinLookup as lookup:
            return lookup.answer
        answer = history_of(found)
    if answer is None:
        abort(404, description=f"No coin with the id {coin_id!r} in the last {days} day(s) of the market store.")
    return answer


def _not_on_date(error, date):
    """Return the 404's message, naming the date parameter when one was given."""
    message = str(error).capitalize() + "."
    if date is None:
        return message
    return f"{message} date: pick a date with a stored snapshot of the coin (GET /api/v1/coins/<coin_id> lists them)."


def outcome(outlook, realized):
    """Return what happened after one horizon's forecast: the score on its target date and whether each interval
    held it; every field null while the target date has no stored snapshot of the coin."""
    score = realized.get(outlook.target_date)
    known = score is not None and math.isfinite(score)
    return {"known": known, "realized_date": outlook.target_date if known else None,
            "realized_score": score if known else None,
            "inside_80": bool(outlook.low80 <= score <= outlook.high80) if known else None,
            "inside_90": bool(outlook.low90 <= score <= outlook.high90) if known else None}


@bp.get("/coins/<coin_id>/forecast")
def coin_forecast(coin_id):
    """Forecast the coin's score ?horizon= days ahead (default 1) from its stored history (?date=, default the
    latest), with every horizon of the model in `horizons`, each with what happened next when it is known; logged,
    one row per horizon. The path takes a coin's id or a unique symbol."""
    from liquidity.forecasting import CoinNotFound, ForecastError

    model = current_model()
    date, error = parse_date(request.args.get("date"))
    horizon, horizon_error = parse_horizon(request.args.get("horizon"), model.horizons)
    errors = [(name, reason) for name, reason in (("date", error), ("horizon", horizon_error)) if reason]
    if errors:
        return _bad_parameters(errors)
    market = current_market()
    if date is not None and market.latest is not None and date > market.latest:
        abort(404, description=f"date: no snapshot is stored after {market.latest} (the latest), so none on {date}; "
                               "leave date out for the latest forecast.")
    try:
        forecast, _ = forecast_and_log(market, model, coin_id, "api", date)
    except CoinNotFound as not_found:
        try:
            found = _lookup(market, coin_id, str(not_found).capitalize() + ".")
            forecast, _ = forecast_and_log(market, model, found, "api", date)
        except CoinLookup as lookup:
            return lookup.answer
        except ForecastError as error:
            abort(404, description=_not_on_date(error, date))
    except ForecastError as error:
        abort(404, description=_not_on_date(error, date))
    coin_id = forecast.coin_id
    chosen = forecast.horizon(horizon)
    realized = market.realized_scores(coin_id, [outlook.target_date for outlook in forecast.horizons])
    past = market.past_forecasts(coin_id, PAST_FORECASTS, horizon)
    return {"model_version": model.version, "threshold": model.threshold, "coin_id": forecast.coin_id,
            "coin": forecast.coin, "symbol": forecast.symbol, "date": forecast.date, **freshness(forecast.date),
            "score": _number(forecast.score),
            "horizon": chosen.horizon, "target_date": chosen.target_date,
            "forecast_score": _number(chosen.forecast_score), "level": chosen.level,
            "band": band(chosen.low80, chosen.high80), "interval_80": interval(chosen.low80, chosen.high80, 80),
            "interval_90": interval(chosen.low90, chosen.high90, 90), "outcome": outcome(chosen, realized),
            "horizons": [{**horizon_answer(outlook), "outcome": outcome(outlook, realized)}
                         for outlook in forecast.horizons],
            "past": [{"date": p.date, "horizon": int(p.horizon), "target_date": p.target_date,
                      "forecast_score": _number(p.forecast_score), "score": _number(p.score),
                      "interval_80": interval(p.low80, p.high80, 80), "interval_90": interval(p.low90, p.high90, 90),
                      "realized_date": _text(p.realized_date), "realized_score": _number(p.realized_score),
                      "model_version": p.model_version} for p in past]}


@bp.get("/monitor")
def monitor():
    """Return the monitor's figures: log counts, realized accuracy against persistence and input drift, by week."""
    current_model()  # 503 first when the model is not loaded, as the page does
    market = current_market()
    return {**freshness(market.latest), **market.monitor(), "log_writes_this_worker": prediction_logs.log_state()}
