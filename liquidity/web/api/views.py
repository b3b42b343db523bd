"""POST /api/v1/predict, GET /api/v1/model, GET /api/v1/openapi.json."""

import json
import math
import re
from datetime import date as Date

from flask import Blueprint, current_app, request
from werkzeug.exceptions import UnsupportedMediaType

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
from liquidity.web.model.figures import horizon_figures, interval_90_row, intervals_90
from liquidity.web.observability import log_prediction
from liquidity.web.scoring import check_json_items, forecast_log_row, frame_log_rows

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


def request_body():
    """Return the request's body, read in one call of its declared length (a body over MAX_CONTENT_LENGTH is still a
    413), then to its end if a server hands over less."""
    # get_data reads until a read comes back empty: a second trip through the server's reader on every request.
    length = request.content_length
    if not length:
        return request.get_data(cache=False)
    data = request.stream.read(length)
    return data if len(data) >= length else data + request.stream.read()


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


def bad_request(message, errors, status=400):
    """Return a 400 (or status) JSON answer listing each error with its field path and reason."""
    return {"error": "Bad request" if status == 400 else "Not found", "message": message,
            "errors": [{"path": path, "reason": reason} for path, _, reason in errors[:ERRORS_SHOWN]],
            "errors_total": len(errors)}, status


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


def parse_flag(raw):
    """Return (True/False, error) for a yes/no query parameter: true/false, 1/0, yes/no; absent is False."""
    if raw is None:
        return False, None
    value = raw.strip().lower()
    if value in ("true", "1", "yes"):
        return True, None
    if value in ("false", "0", "no"):
        return False, None
    return None, f"must be true or false, not {raw!r}"


def client_id_error(item):
    """Return why an object's `id` (the client's own label, echoed back) cannot be echoed, or None."""
    if not isinstance(item, dict) or "id" not in item:
        return None
    value = item["id"]
    if isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                  and math.isfinite(value)):
        return None
    return "must be a string or a finite number (it is echoed back as given)"


def with_client_id(item, answer):
    """Return answer with the object's `id` first, when the client gave one that can be echoed."""
    if not isinstance(item, dict) or "id" not in item or client_id_error(item):
        return answer
    return {"id": item["id"], **answer}


ITEM_POSITION = re.compile(r"^\$\[(\d+)\]")


def _errors_by_position(errors):
    found = {}
    for path, _, reason in errors:
        found.setdefault(int(ITEM_POSITION.match(path).group(1)), []).append({"path": path, "reason": reason})
    return found


NAME_KEYS = ("coin_id", "symbol", "coin")
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


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
        if "date" in texts:
            sent = item["date"]  # as sent: the document's date format has no blanks and no other spellings
            try:
                if not ISO_DATE.match(sent):
                    raise ValueError(sent)
                texts["date"] = Date.fromisoformat(sent).isoformat()
            except ValueError:
                errors.append((f"$[{position}].date", "date", f"must be a date like 2024-03-16, not {sent!r}"))
                texts["date"] = None
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


def _list_answers(model, valid, names, market, snapshot_date):
    """Return {position: answer} for the valid rows {position: {column: float}}, scored as one frame (a row naming a
    stored coin from its history), and log them."""
    import pandas as pd

    frame = pd.DataFrame.from_dict(valid, orient="index", columns=list(INPUT_COLUMNS)).astype("float64")
    forecast = model.forecast_frame(frame, reference_ratios())
    wide = intervals_90(model, forecast["liquidity_score"].to_numpy())
    wide_rows = zip(*wide) if wide is not None else [None] * len(forecast)
    looked_up = {}  # (coin_id, date) -> the coin's forecast, once per list
    answers, from_history = {}, []
    for position, h1, row, interval_90 in zip(frame.index, frame["1h"].to_numpy(), forecast.itertuples(), wide_rows):
        basis = (coin_basis(market, model, valid[position], *names[position], forecasts=looked_up)
                 if position in names else inputs_basis())
        if basis.from_history:
            answer = history_answer(model, h1, basis)
            from_history.append(basis.forecast)
        else:
            answer = item_answer(model, h1, row.liquidity_score, row.liquidity_level, row.band_low, row.band_high,
                                 row.implied_ratio, row.implied_volume, row.out_of_range, interval_90)
        answers[position] = with_basis(answer, basis, snapshot_date)
    log_prediction(source="api", items=len(answers), model_version=model.version,
                   mean_score=round(float(forecast["liquidity_score"].mean()), 6), from_history=len(from_history))
    from_inputs = [index for index, position in enumerate(frame.index) if answers[position]["basis"] == INPUTS]
    prediction_logs.log_forecasts(frame_log_rows(frame.iloc[from_inputs], forecast.iloc[from_inputs]), "api",
                                  model.version)
    for coin_forecast in from_history:
        prediction_logs.log_forecasts(coin_log_rows(coin_forecast), "api", model.version)
    return answers


@bp.post("/predict")
def predict():
    """Forecast the score 1 day ahead for one object or a list of objects with keys price, 1h (fraction), 24h_volume,
    mkt_cap; a list is answered item by item (?atomic=true: all or nothing)."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Send the body as JSON with the header Content-Type: application/json.")
    atomic, flag_error = parse_flag(request.args.get("atomic"))
    if flag_error:
        return bad_request("1 invalid query parameter(s).", [("atomic", None, flag_error)])
    model = current_model()
    try:
        body = parse_body(request_body())
    except MalformedJson as error:
        return bad_request("The body is not valid JSON.", [("$", None, str(error))])
    single = isinstance(body, dict)
    items = [body] if single else body
    if not isinstance(items, list):
        return bad_request("Send one object or a list of objects.", [("$", None, "must be an object or a list")])
    if not items:
        return bad_request("The list is empty.", [("$", None, "must hold at least one object")])
    limit = current_app.config["API_MAX_ITEMS"]
    if len(items) > limit:  # a 400 as the document's maxItems says; a body over the byte limit is still a 413
        return bad_request(f"At most {limit:,} objects per request; this one has {len(items):,}.",
                           [("$", None, f"must hold at most {limit:,} objects")])
    values, errors = check_json_items(items)
    names, name_errors = item_names(items)
    errors += name_errors
    errors += [(f"$[{position}].id", "id", reason) for position, item in enumerate(items)
               if (reason := client_id_error(item))]
    errors.sort(key=by_position)
    for position in {by_position(error) for error in errors}:
        values.pop(position, None)
    if (single or atomic) and errors:
        return bad_request(f"{len(errors)} invalid value(s); nothing was scored.", errors)
    # The request's market state: the named coins are looked up in it, and the others ranked against its snapshot.
    market = market_or_none()
    snapshot_date = reference_date(model, market)
    head = {"model_version": model.version, "threshold": model.threshold, "horizon": HORIZON, "target": TARGET}
    if single:  # one object: the model's one-row path, no DataFrame (~0.1 ms instead of ~2 ms)
        row = values[0]
        basis = coin_basis(market, model, row, *names[0]) if 0 in names else inputs_basis()
        if basis.from_history:
            answer = history_answer(model, row["1h"], basis)
            prediction_logs.log_forecasts(coin_log_rows(basis.forecast), "api", model.version)
        else:
            result = model.forecast(row["volume"], row["mkt_cap"], row["1h"], row["price"], reference_ratios())
            answer = item_answer(model, row["1h"], result.score, result.level, result.band_low, result.band_high,
                                 result.implied_ratio, result.implied_volume, result.out_of_range,
                                 interval_90_row(model, result.score))
            prediction_logs.log_forecasts(
                [forecast_log_row(result, row["volume"], row["mkt_cap"], row["1h"], row["price"])], "api",
                model.version)
        log_prediction(source="api", inputs={key: None if value != value else value for key, value in row.items()},
                       score=round(answer["score"], 6), liquidity_level=answer["level"], model_version=model.version,
                       basis=basis.kind)
        return {**head, "prediction": with_client_id(body, with_basis(answer, basis, snapshot_date))}
    answers = _list_answers(model, values, names, market, snapshot_date) if values else {}
    item_errors = _errors_by_position(errors)
    predictions = [with_client_id(item, answers[position]) if position in answers
                   else with_client_id(item, {"error": f"{len(item_errors[position])} invalid value(s); this "
                                                       "object was not scored.",
                                              "errors": item_errors[position]})
                   for position, item in enumerate(items)]
    return {**head, "count": len(predictions), "scored": len(answers), "failed": len(predictions) - len(answers),
            "predictions": predictions}


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
