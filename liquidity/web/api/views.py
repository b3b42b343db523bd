"""POST /api/v1/predict, GET /api/v1/model, GET /api/v1/openapi.json."""

import json
from datetime import date as Date

from flask import Blueprint, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from liquidity.features import INPUT_COLUMNS
from liquidity.hints import borderline, h1_warning
from liquidity.schema import api_keys
from liquidity.web import current_model, reference_ratios
from liquidity.web.api.openapi import openapi_document
from liquidity.web.basis import (
    INPUTS,
    as_forecast,
    coin_basis,
    inputs_basis,
    market_or_none,
    reference_date,
)
from liquidity.web.extensions import prediction_logs
from liquidity.web.market import coin_log_rows
from liquidity.web.model.figures import horizon_figures, intervals_90
from liquidity.web.observability import log_prediction
from liquidity.web.scoring import check_json_items, forecast_log_row, frame_log_rows, read_json_items

bp = Blueprint("api", __name__, url_prefix="/api/v1")

ERRORS_SHOWN = 100
API_KEYS = api_keys()


class MalformedJson(ValueError):
    """The body is not strict JSON."""


def _reject_constant(name):
    raise MalformedJson(f"{name} is not allowed in JSON")


# Python refuses to turn more than 4,300 digits into an int (ValueError); such a number is far past every
# input limit anyway, so it is read as a float (inf) and rejected by the field's rule, naming the field.
LONGEST_INT = 300


def _read_int(text):
    return int(text) if len(text) <= LONGEST_INT else float(text)


class JsonObject(dict):
    """A JSON object that remembers the keys it held more than once (the last value would win silently)."""

    duplicate_keys = ()


def _object_with_duplicates(pairs):
    item = JsonObject(pairs)
    if len(item) != len(pairs):
        seen = set()
        item.duplicate_keys = [key for key, _ in pairs if key in seen or seen.add(key)]
    return item


def parse_body(data):
    """Return the body parsed as strict JSON, or raise MalformedJson saying why."""
    if not data.strip():
        raise MalformedJson("the body is empty")
    try:
        return json.loads(data, parse_constant=_reject_constant, parse_int=_read_int,
                          object_pairs_hook=_object_with_duplicates)
    except UnicodeDecodeError:
        raise MalformedJson("the body is not UTF-8 text") from None
    except RecursionError:
        raise MalformedJson("arrays or objects are nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, MalformedJson
        raise MalformedJson(str(error)) from None


def bad_request(message, errors):
    """Return a 400 JSON answer listing each error with its field path and reason."""
    return {"error": "Bad request", "message": message,
            "errors": [{"path": path, "reason": reason} for path, _, reason in errors[:ERRORS_SHOWN]],
            "errors_total": len(errors)}, 400


HORIZON = 1  # the four-input path forecasts the next snapshot only; the coin API has the longer horizons
TARGET = ("the coin's liquidity score (its turnover rank among all coins, 0..1) in the next snapshot, 1 day ahead, "
          "from the four inputs alone, or from the coin's stored history when the object names a stored coin with its "
          "stored values (each answer's basis says which); for 7 and 30 days ahead use "
          "/api/v1/coins/<coin_id>/forecast")


def _interval(low, high):
    return {"low": float(low), "high": float(high)}


def item_answer(model, h1, score, level, band_low, band_high, implied_ratio, implied_volume, out_of_range,
                interval_90=None):
    """Return the API's answer for one scored item, with a borderline flag and any unit warning.

    band_low and band_high are the 1-day 80 % interval; interval_90 is the (low, high) of the 90 % one, if any.
    """
    warning = h1_warning(h1, model.card["inputs"]["1h"])
    intervals = {"interval_80": _interval(band_low, band_high)}
    if interval_90 is not None:
        intervals["interval_90"] = _interval(*interval_90)
    return {
        "score": float(score),
        "level": level,
        "borderline": bool(borderline(band_low, band_high, model.threshold)),
        "band": {"low": float(band_low), "high": float(band_high), "percentiles": [10, 90]},
        **intervals,
        "implied_next_day": {"liquidity_ratio": float(implied_ratio), "volume_usd": float(implied_volume)},
        "out_of_range": [API_KEYS[name] for name in out_of_range],
        "warnings": [warning] if warning else [],
    }


NAME_KEYS = ("coin_id", "symbol", "coin")


def item_names(items):
    """Return ({position: (coin_id, symbol, coin, date)} of the objects naming a coin, errors) from the optional keys
    coin_id, symbol, coin (text) and date ('2024-03-16')."""
    names, errors = {}, []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            continue  # check_json_items reports it
        texts = {}
        for key in (*NAME_KEYS, "date"):
            value = item.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                errors.append((f"$[{position}].{key}", key, "must be a string"))
            elif len(value) > 200:
                errors.append((f"$[{position}].{key}", key, "must be at most 200 characters"))
            else:
                texts[key] = value.strip()
        if texts.get("date"):
            try:
                texts["date"] = Date.fromisoformat(texts["date"]).isoformat()
            except ValueError:
                errors.append((f"$[{position}].date", "date", f"must be a date like 2024-03-16, not {texts['date']!r}"))
        if any(texts.get(key) for key in NAME_KEYS):
            names[position] = (*(texts.get(key, "") for key in NAME_KEYS), texts.get("date") or None)
    return names, errors


def by_position(error):
    """Sort key of an error: the position of its object ($[3].price: 3), so each object's errors stay together."""
    path = error[0]
    return int(path[2:path.index("]")]) if path.startswith("$[") else -1


def with_basis(answer, basis, snapshot_date):
    """Return an item's answer with what it was forecast from: basis ("history" or "inputs"), basis_note, coin_id
    (the stored coin whose history was used, else null) and snapshot_date."""
    coin = basis.forecast
    return {**answer, "basis": basis.kind, "basis_note": basis.note, "coin_id": coin.coin_id if coin else None,
            "snapshot_date": coin.date if coin else snapshot_date}


def history_answer(model, h1, basis):
    """Return the answer of an item forecast from its coin's stored history (basis.forecast)."""
    result = as_forecast(model, basis.forecast)
    day = basis.forecast.horizons[0]
    return item_answer(model, h1, result.score, result.level, result.band_low, result.band_high,
                       result.implied_ratio, result.implied_volume, result.out_of_range, (day.low90, day.high90))


@bp.post("/predict")
def predict():
    """Forecast the score 1 day ahead for one object or a list of objects with keys price, 1h (fraction), 24h_volume,
    mkt_cap."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Send the body as JSON with the header Content-Type: application/json.")
    model = current_model()
    try:
        body = parse_body(request.get_data(cache=False))
    except MalformedJson as error:
        return bad_request("The body is not valid JSON.", [("$", None, str(error))])
    single = isinstance(body, dict)
    items = [body] if single else body
    if not isinstance(items, list):
        return bad_request("Send one object or a list of objects.", [("$", None, "must be an object or a list")])
    if not items:
        return bad_request("The list is empty.", [("$", None, "must hold at least one object")])
    limit = current_app.config["API_MAX_ITEMS"]
    if len(items) > limit:
        raise RequestEntityTooLarge(f"At most {limit:,} objects per request; this one has {len(items):,}.")
    names, name_errors = item_names(items)
    # The request's market state: the named coins are looked up in it, and the others ranked against its snapshot.
    market = market_or_none()
    snapshot_date = reference_date(model, market)
    if single:  # one object: the model's one-row path, no DataFrame (~0.1 ms instead of ~2 ms)
        values, errors = check_json_items(items)
        errors = sorted(errors + name_errors, key=by_position)
        if errors:
            return bad_request(f"{len(errors)} invalid value(s); nothing was scored.", errors)
        row = values[0]
        basis = coin_basis(market, model, row, *names[0]) if 0 in names else inputs_basis()
        if basis.from_history:
            answer = history_answer(model, row["1h"], basis)
            prediction_logs.log_forecasts(coin_log_rows(basis.forecast), "api", model.version)
        else:
            result = model.forecast(row["volume"], row["mkt_cap"], row["1h"], row["price"], reference_ratios())
            wide = intervals_90(model, [result.score])
            answer = item_answer(model, row["1h"], result.score, result.level, result.band_low, result.band_high,
                                 result.implied_ratio, result.implied_volume, result.out_of_range,
                                 None if wide is None else (wide[0][0], wide[1][0]))
            prediction_logs.log_forecasts(
                [forecast_log_row(result, row["volume"], row["mkt_cap"], row["1h"], row["price"])], "api",
                model.version)
        log_prediction(source="api", inputs={key: None if value != value else value for key, value in row.items()},
                       score=round(answer["score"], 6), liquidity_level=answer["level"], model_version=model.version,
                       basis=basis.kind)
        return {"model_version": model.version, "threshold": model.threshold, "horizon": HORIZON, "target": TARGET,
                "prediction": with_basis(answer, basis, snapshot_date)}
    parsed = read_json_items(items)
    errors = sorted(parsed.errors + name_errors, key=by_position)
    if errors:
        return bad_request(f"{len(errors)} invalid value(s); nothing was scored.", errors)
    forecast = model.forecast_frame(parsed.valid, reference_ratios())
    h1_values = parsed.valid["1h"].to_numpy()
    wide = intervals_90(model, forecast["liquidity_score"].to_numpy())
    wide_rows = zip(*wide) if wide is not None else [None] * len(forecast)
    inputs = parsed.valid.to_dict("index")
    looked_up = {}  # (coin_id, date) -> the coin's forecast, once per list
    answers, from_history = [], []
    for position, (h1, row, interval_90) in enumerate(zip(h1_values, forecast.itertuples(), wide_rows)):
        basis = (coin_basis(market, model, inputs[position], *names[position], forecasts=looked_up)
                 if position in names else inputs_basis())
        if basis.from_history:
            answer = history_answer(model, h1, basis)
            from_history.append(basis.forecast)
        else:
            answer = item_answer(model, h1, row.liquidity_score, row.liquidity_level, row.band_low, row.band_high,
                                 row.implied_ratio, row.implied_volume, row.out_of_range, interval_90)
        answers.append(with_basis(answer, basis, snapshot_date))
    log_prediction(source="api", items=len(answers), model_version=model.version,
                   mean_score=round(float(forecast["liquidity_score"].mean()), 6), from_history=len(from_history))
    from_inputs = [position for position, answer in enumerate(answers) if answer["basis"] == INPUTS]
    prediction_logs.log_forecasts(frame_log_rows(parsed.valid.iloc[from_inputs], forecast.iloc[from_inputs]), "api",
                                  model.version)
    for coin_forecast in from_history:
        prediction_logs.log_forecasts(coin_log_rows(coin_forecast), "api", model.version)
    return {"model_version": model.version, "threshold": model.threshold, "horizon": HORIZON, "target": TARGET,
            "count": len(answers), "predictions": answers}


@bp.get("/model")
def model_card():
    """Return the model card: features with units and training ranges, metrics, version."""
    model = current_model()
    card = model.card
    return {
        "name": card.get("name"),
        "model_version": model.version,
        "target": card.get("target"),
        "threshold": model.threshold,
        "inputs": {API_KEYS[name]: card["inputs"][name] for name in INPUT_COLUMNS},
        "features": card.get("features"),
        "feature_importances": card.get("feature_importances"),
        "hyperparameters": card.get("hyperparameters"),
        "validation": card.get("validation"),
        "horizons": horizon_figures(card),
        "horizon_definitions": card.get("horizon_definitions"),
        "conformal": card.get("conformal"),
        "data": card.get("data"),
        "versions": card.get("versions"),
        "artifacts": card.get("artifacts"),
        "created_at": card.get("created_at"),
    }


@bp.get("/openapi.json")
def openapi():
    """Return the OpenAPI 3.1 document of this API."""
    return openapi_document(current_app.config["API_MAX_ITEMS"])
