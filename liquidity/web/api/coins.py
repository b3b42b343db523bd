"""GET /api/v1/coins, /api/v1/coins/<coin_id>, /api/v1/coins/<coin_id>/forecast and /api/v1/monitor."""

import math

from flask import abort, current_app, request

from liquidity.web import current_market, current_model
from liquidity.web.api.views import bad_request, bp
from liquidity.web.extensions import prediction_logs
from liquidity.web.market import forecast_and_log, parse_date, parse_days, parse_listing

PAST_FORECASTS = 10


def _number(value):
    """Return value as a float for JSON, None when missing or not finite (NaN and infinities are not JSON; a store
    written before the import refused them may hold a ratio that overflows)."""
    return None if value is None or not math.isfinite(value) else float(value)


def _answer(market, key, compute):
    """Return the JSON response of compute() (None when it found nothing), encoded once per store version: encoding
    a 90-day history took longer than the rest of a request served from memory."""

    def encoded():
        payload = compute()
        return None if payload is None else current_app.json.response(payload).get_data()

    body = market.rendered(key, encoded)
    return None if body is None else current_app.response_class(body, mimetype=current_app.json.mimetype)


def _bad_parameters(errors):
    return bad_request(f"{len(errors)} invalid query parameter(s).", [(name, None, reason) for name, reason in errors])


def coin_answer(row):
    return {"coin_id": row.coin_id, "coin": row.coin, "symbol": row.symbol, "score": _number(row.score),
            "forecast_score": _number(row.forecast_score), "level": row.level if row.level == row.level else None,
            "band": {"low": _number(row.band_low), "high": _number(row.band_high), "percentiles": [10, 90]},
            "volume_usd": _number(row.volume), "mkt_cap_usd": _number(row.mkt_cap), "price_usd": _number(row.price)}


@bp.get("/coins")
def coins():
    """Return the latest stored snapshot with each coin's forecast; q, sort, order, page, per_page as on /coins."""
    model = current_model()
    listing, errors = parse_listing(request.args)
    if errors:
        return _bad_parameters(errors)
    market = current_market()

    def compute():
        rows, total, pages, date = market.market_page(listing)
        return {"date": date, "model_version": model.version, "threshold": model.threshold, "total": total,
                "page": listing.page, "pages": pages, "per_page": listing.per_page,
                "coins": [coin_answer(row) for row in rows.itertuples()]}

    return _answer(market, ("api coins", listing.key()), compute)


@bp.get("/coins/<coin_id>")
def coin(coin_id):
    """Return the coin's stored history over the last ?days= days (default 90) up to the latest stored date."""
    days, error = parse_days(request.args.get("days"))
    if error:
        return _bad_parameters([("days", error)])
    market = current_market()

    def compute():
        rows = market.coin_history(coin_id, days)
        if rows.empty:
            return None
        last = rows.iloc[-1]
        history = [{"date": row["date"], "price_usd": _number(row["price"]), "volume_usd": _number(row["volume"]),
                    "mkt_cap_usd": _number(row["mkt_cap"]), "change_1h": _number(row["1h"]),
                    "change_24h": _number(row["24h"]), "change_7d": _number(row["7d"]),
                    "turnover": _number(row["volume"] / row["mkt_cap"]), "score": _number(row["liquidity_score"])}
                   for row in rows.to_dict("records")]
        return {"coin_id": coin_id, "coin": last["coin"], "symbol": last["symbol"], "days": days,
                "end": last["date"], "count": len(history), "history": history}

    answer = _answer(market, ("api coin", coin_id, days), compute)
    if answer is None:
        abort(404, description=f"No coin with the id {coin_id!r} in the last {days} day(s) of the market store.")
    return answer


@bp.get("/coins/<coin_id>/forecast")
def coin_forecast(coin_id):
    """Forecast the coin's next-snapshot score from its stored history (?date=, default the latest); logged."""
    from liquidity.forecasting import ForecastError

    date, error = parse_date(request.args.get("date"))
    if error:
        return _bad_parameters([("date", error)])
    model = current_model()
    market = current_market()
    try:
        forecast, _ = forecast_and_log(market, model, coin_id, "api", date)
    except ForecastError as error:  # CoinNotFound included
        abort(404, description=str(error))
    past = market.past_forecasts(coin_id, PAST_FORECASTS)
    return {"model_version": model.version, "threshold": model.threshold, "coin_id": forecast.coin_id,
            "coin": forecast.coin, "symbol": forecast.symbol, "date": forecast.date, "score": forecast.score,
            "forecast_score": forecast.forecast_score, "level": forecast.level,
            "band": {"low": forecast.band_low, "high": forecast.band_high, "percentiles": [10, 90]},
            "past": [{"date": p.date, "forecast_score": _number(p.forecast_score), "score": _number(p.score),
                      "realized_date": p.realized_date, "realized_score": _number(p.realized_score),
                      "model_version": p.model_version} for p in past]}


@bp.get("/monitor")
def monitor():
    """Return the monitor's figures: log counts, realized accuracy against persistence and input drift, by week."""
    current_model()  # 503 first when the model is not loaded, as the page does
    return {**current_market().monitor(), "log_writes_this_worker": prediction_logs.log_state()}
