"""The OpenAPI 3.1 document of the JSON API."""

from liquidity.schema import INPUTS, json_schema
from liquidity.web.formatting import TURNOVER_NOTE
from liquidity.web.market import MAX_DAYS, MAX_PER_PAGE, PER_PAGE, SORT_COLUMNS


def _number(description, **bounds):
    return {"type": "number", "description": description, **bounds}


# What a client gets from the rate limits, said where a client reads (the README says it at length).
RATE_LIMIT_NOTE = ("Calls are rate-limited per client address (default 120 per minute); past the limit the answer "
                   "is 429 with a Retry-After header and the same number of seconds as retry_after in the body. "
                   "Unless the server counts in Redis, each of its worker processes counts on its own, so a client "
                   "may get up to the limit times the number of workers.")
SORT_KEYS = tuple(SORT_COLUMNS)
HORIZONS = (1, 7, 30)  # the committed model's; a model trained with fewer answers 400 to the others
INTERVAL_MEANING = {80: "in 8 of 10 past cases like this, the score turned out inside this range",
                    90: "in 9 of 10 past cases like this, the score turned out inside this range"}
BAND = {"type": "object", "description": "the 1-day 80 % interval, the same as interval_80; kept for compatibility",
        "properties": {"low": {"type": "number"}, "high": {"type": "number"},
                       "percentiles": {"type": "array", "items": {"type": "integer"},
                                       "description": "[10, 90]: the interval's ends as percentiles"}}}


def _interval(level, horizon_text="the forecast's horizon", *, names_level=True):
    """Return the schema of a conformal interval at level percent (a coin answer's also names its level)."""
    properties = {"low": _number("low end, 0..1"), "high": _number("high end, 0..1")}
    if names_level:
        properties["level"] = {"type": "integer", "enum": [level], "description": "the nominal level in percent"}
    return {"type": "object",
            "description": f"{level} % interval of the score at {horizon_text}: {INTERVAL_MEANING[level]}",
            "properties": properties}


HORIZON_PARAMETER = {"type": "integer", "enum": list(HORIZONS), "default": 1}
HORIZON_FORECAST = {"type": "object", "description": "the forecast at one horizon", "properties": {
    "horizon": {"type": "integer", "enum": list(HORIZONS), "description": "calendar days ahead"},
    "target_date": {"type": "string", "format": "date", "description": "the date the forecast is for"},
    "forecast_score": _number("forecast score on target_date, 0..1"),
    "level": {"type": "string", "enum": ["High", "Low"]},
    "interval_80": _interval(80, "this horizon"), "interval_90": _interval(90, "this horizon")}}
COIN = {"type": "object", "properties": {
    "coin_id": {"type": "string"}, "coin": {"type": "string"}, "symbol": {"type": "string"},
    "score": _number("liquidity score today: the coin's turnover rank within its snapshot, 0..1"),
    "forecast_score": _number("forecast score at the chosen horizon (?horizon=, default 1 day ahead), 0..1"),
    "level": {"type": "string", "enum": ["High", "Low"]}, "band": BAND,
    "interval_80": _interval(80, "the chosen horizon"), "interval_90": _interval(90, "the chosen horizon"),
    "volume_usd": _number("24h volume, USD"), "mkt_cap_usd": _number("market cap, USD"),
    "price_usd": _number("price, USD")}}
HISTORY_ROW = {"type": "object", "properties": {
    "date": {"type": "string", "format": "date"}, "price_usd": {"type": "number"}, "volume_usd": {"type": "number"},
    "mkt_cap_usd": {"type": "number"},
    "change_1h": {"type": ["number", "null"], "description": "fraction; null when the source has none"},
    "change_24h": {"type": ["number", "null"]}, "change_7d": {"type": ["number", "null"]},
    "turnover": _number("24h volume / market cap"), "score": _number("liquidity score within its snapshot, 0..1")}}
COIN_FORECAST = {"type": "object", "properties": {
    "model_version": {"type": "string"}, "threshold": {"type": "number"}, "coin_id": {"type": "string"},
    "coin": {"type": "string"}, "symbol": {"type": "string"},
    "date": {"type": "string", "format": "date", "description": "the snapshot the forecast is made from"},
    "score": _number("score on date"),
    "horizon": {"type": "integer", "enum": list(HORIZONS),
                "description": "calendar days ahead of the top-level forecast (?horizon=, default 1)"},
    "target_date": {"type": "string", "format": "date", "description": "the date the top-level forecast is for"},
    "forecast_score": _number("forecast score at horizon"),
    "level": {"type": "string", "enum": ["High", "Low"]}, "band": BAND,
    "interval_80": _interval(80, "horizon"), "interval_90": _interval(90, "horizon"),
    "horizons": {"type": "array", "description": "the forecast at every horizon of the model, shortest first",
                 "items": HORIZON_FORECAST},
    "past": {"type": "array", "description": "the coin's last logged forecasts at horizon, newest first",
             "items": {"type": "object", "properties": {
                 "date": {"type": "string"}, "forecast_score": {"type": "number"},
                 "score": {"type": ["number", "null"]}, "realized_date": {"type": ["string", "null"]},
                 "realized_score": {"type": ["number", "null"]}, "model_version": {"type": "string"}}}}}}
MONITOR = {"type": "object", "properties": {
    "model_version": {"type": "string"}, "threshold": {"type": "number"},
    "logged": {"type": "object", "properties": {"total": {"type": "integer"}, "scored": {"type": "integer"},
                                                "by_source": {"type": "object"}}},
    "accuracy": {"type": "object", "description": "forecasts 1 day ahead (the same figures as horizons[0])",
                 "properties": {"overall": {"type": "object"}, "weeks": {"type": "array"}}},
    "coverage_goal": _number("share of outcomes the 80 % interval should hold: 0.8"),
    "levels": {"type": "array", "items": {"type": "integer"}, "description": "interval levels in percent: [80, 90]"},
    "horizons": {"type": "array", "description": "per horizon of the model: accuracy and interval coverage",
                 "items": {"type": "object", "properties": {
                     "horizon": {"type": "integer", "description": "calendar days ahead"},
                     "overall": {"type": "object", "description": "scored, model_mae, persistence_mae, "
                                 "model_accuracy, persistence_accuracy; rows80, coverage80 (share of outcomes inside "
                                 "the 80 % interval), width80 (its mean width); rows90, coverage90, width90; null "
                                 "when nothing is scored"},
                     "weeks": {"type": "array", "description": "the same figures per week (Monday), oldest first, "
                               "with model_versions", "items": {"type": "object"}}}}},
    "drift": {"type": "object", "properties": {"recent_days": {"type": "integer"}, "recent": {"type": "object"},
                                               "weeks": {"type": "array"}, "ranges": {"type": "object"}}},
    "log_writes_this_worker": {"type": "object", "description": "forecasts this worker logged, and failed to"}}}


COIN_KEYS = {
    "coin_id": {"type": "string", "maxLength": 200,
                "description": "optional: the coin's id in the store; with the coin's stored values it is forecast "
                               "from its stored history (basis: history)"},
    "symbol": {"type": "string", "maxLength": 200, "description": "optional: the coin's symbol, instead of coin_id"},
    "coin": {"type": "string", "maxLength": 200, "description": "optional: the coin's name, instead of coin_id"},
    "date": {"type": "string", "format": "date",
             "description": "optional: the stored snapshot the values are from (default: the latest)"},
}


def _query(name, schema, description):
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _path_coin():
    return {"name": "coin_id", "in": "path", "required": True, "schema": {"type": "string"},
            "description": "the coin's id in the store (CoinGecko's id, e.g. bitcoin)"}


def openapi_document(max_items):
    """Return the OpenAPI document as a dict."""
    item = {
        "type": "object",
        "required": [spec.key for spec in INPUTS if not spec.optional],
        "properties": {**{spec.key: json_schema(spec) for spec in INPUTS}, **COIN_KEYS},
        "example": {spec.key: spec.example for spec in INPUTS},
    }
    answer = {
        "type": "object",
        "properties": {
            "score": _number("forecast liquidity score in the next snapshot, 0..1 (percentile among coins)"),
            "level": {"type": "string", "enum": ["High", "Low"],
                      "description": "High when the score is at or above the threshold: a turnover rank, not "
                                     "market depth"},
            "borderline": {"type": "boolean",
                           "description": "the 80 % interval reaches both sides of the threshold: the level could "
                                          "go either way"},
            "band": BAND,
            "interval_80": _interval(80, "1 day ahead", names_level=False),
            "interval_90": _interval(90, "1 day ahead", names_level=False),
            "implied_next_day": {"type": "object", "properties": {
                "liquidity_ratio": _number("24h volume / market cap that the score maps to in the reference "
                                           "snapshot"),
                "volume_usd": _number("that ratio times the given market cap")}},
            "out_of_range": {"type": "array", "items": {"type": "string"},
                             "description": "inputs outside the range seen in training"},
            "basis": {"type": "string", "enum": ["history", "inputs"],
                      "description": "what the forecast was made from: the named coin's stored history (the coin "
                                     "page's forecast), or the four inputs alone"},
            "basis_note": {"type": "string", "description": "the basis in words, with the reason a named coin's "
                                                            "history was not used"},
            "coin_id": {"type": ["string", "null"], "description": "the stored coin whose history was used"},
            "snapshot_date": {"type": ["string", "null"], "format": "date",
                              "description": "the stored snapshot forecast from (history) or ranked against "
                                             "(inputs); null when neither: the model card's reference snapshot"},
            "warnings": {"type": "array", "items": {"type": "string"},
                         "description": "likely unit mistakes, e.g. a 1h change sent as a percent (2.2) instead of "
                                        "a fraction (0.022)"},
        },
    }
    error = {"type": "object", "properties": {
        "error": {"type": "string"}, "message": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "path": {"type": "string", "example": "$[3].mkt_cap"}, "reason": {"type": "string"}}}}}}

    def error_response(text):
        schema = {"$ref": "#/components/schemas/Error"}
        return {"description": text, "content": {"application/json": {"schema": schema}}}

    return {
        "openapi": "3.1.0",
        "info": {"title": "Crypto liquidity predictor", "version": "1",
                 "description": "Forecast a coin's liquidity score 1, 7 and 30 days ahead (from the four inputs "
                                "alone: 1 day ahead, the next market snapshot), each with 80 % and 90 % intervals. "
                                + TURNOVER_NOTE + " " + RATE_LIMIT_NOTE},
        "paths": {
            "/api/v1/predict": {"post": {
                "summary": f"Forecast the score 1 day ahead (the next snapshot) from the four inputs, or from the "
                           f"stored history of the coin an object names, for one object or a list of up to "
                           f"{max_items} objects",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
                    {"$ref": "#/components/schemas/Item"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/Item"}, "minItems": 1,
                     "maxItems": max_items}]}}}},
                "responses": {
                    "200": {"description": "prediction (object sent) or predictions (list sent), with "
                                           "model_version and threshold",
                            "content": {"application/json": {"schema": {"type": "object", "properties": {
                                "model_version": {"type": "string"}, "threshold": {"type": "number"},
                                "horizon": {"type": "integer", "enum": [1],
                                            "description": "calendar days ahead: the four-input path forecasts "
                                                           "1 day ahead only"},
                                "target": {"type": "string", "description": "what is forecast, in words"},
                                "count": {"type": "integer"},
                                "prediction": {"$ref": "#/components/schemas/Answer"},
                                "predictions": {"type": "array", "items": {"$ref": "#/components/schemas/Answer"}},
                            }}}}},
                    "400": error_response("malformed JSON or invalid values (each with its path and reason)"),
                    "413": error_response("body above the upload limit or too many objects"),
                    "415": error_response("Content-Type is not application/json"),
                    "503": error_response("the model is not loaded"),
                }}},
            "/api/v1/model": {"get": {"summary": "The model card: inputs with units and training ranges; per horizon "
                                                 "(horizons[]) the metrics of the model and each baseline and the "
                                                 "intervals' coverage; the conformal calibration; version",
                                      "responses": {"200": {"description": "model card"},
                                                    "503": error_response("the model is not loaded")}}},
            "/api/v1/coins": {"get": {
                "summary": "The latest stored snapshot: every coin with its score today and its forecast at one "
                           "horizon",
                "parameters": [
                    _query("horizon", HORIZON_PARAMETER,
                           "calendar days ahead of the forecast, interval and level columns (one of the model's "
                           "horizons)"),
                    _query("q", {"type": "string", "maxLength": 100}, "search in coin name, symbol or id"),
                    _query("sort", {"type": "string", "enum": list(SORT_KEYS), "default": "mkt_cap"}, "sort key"),
                    _query("order", {"type": "string", "enum": ["asc", "desc"]},
                           "sort direction (default: asc for coin and symbol, else desc)"),
                    _query("page", {"type": "integer", "minimum": 1, "default": 1}, "page number"),
                    _query("per_page", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE,
                                        "default": PER_PAGE}, "coins per page")],
                "responses": {
                    "200": {"description": "date, model_version, threshold, horizon, total, page, pages, per_page, "
                                           "coins",
                            "content": {"application/json": {"schema": {"type": "object", "properties": {
                                "date": {"type": "string", "format": "date"}, "model_version": {"type": "string"},
                                "horizon": {"type": "integer", "description": "calendar days ahead of the coins' "
                                                                              "forecasts"},
                                "total": {"type": "integer"}, "page": {"type": "integer"},
                                "pages": {"type": "integer"},
                                "coins": {"type": "array", "items": {"$ref": "#/components/schemas/Coin"}}}}}}},
                    "400": error_response("a query parameter is invalid (named in errors[].path)"),
                    "503": error_response("the model or the market store is not available"),
                }}},
            "/api/v1/coins/{coin_id}": {"get": {
                "summary": "A coin's stored history up to the latest stored date",
                "parameters": [_path_coin(),
                               _query("days", {"type": "integer", "minimum": 1, "maximum": MAX_DAYS, "default": 90},
                                      "calendar days of history, ending at the latest stored date")],
                "responses": {
                    "200": {"description": "coin_id, coin, symbol, days, end, count, history",
                            "content": {"application/json": {"schema": {"type": "object", "properties": {
                                "coin_id": {"type": "string"}, "days": {"type": "integer"},
                                "end": {"type": "string", "format": "date"},
                                "history": {"type": "array", "items": {"$ref": "#/components/schemas/HistoryRow"}}}}}}},
                    "400": error_response("days is not a whole number from 1 to 3650"),
                    "404": error_response("no stored row of this coin in that period"),
                }}},
            "/api/v1/coins/{coin_id}/forecast": {"get": {
                "summary": "Forecast a coin's score 1, 7 and 30 days ahead from its own stored history, with 80 % and "
                           "90 % intervals (logged)",
                "parameters": [_path_coin(), _query("date", {"type": "string", "format": "date"},
                                                    "snapshot date to forecast from (default: the latest stored)"),
                               _query("horizon", HORIZON_PARAMETER,
                                      "calendar days ahead of the top-level forecast and of past; horizons lists "
                                      "every horizon either way")],
                "responses": {
                    "200": {"description": "the forecast at horizon with its intervals, the forecast at every horizon "
                                           "(horizons), and the coin's last logged forecasts with their outcomes",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CoinForecast"}}}},
                    "400": error_response("date is not a date like 2024-03-16, or horizon is not one of the "
                                          "model's"),
                    "404": error_response("the coin has no stored row on that date"),
                    "503": error_response("the model or the market store is not available"),
                }}},
            "/api/v1/monitor": {"get": {
                "summary": "Per horizon, realized accuracy of the logged forecasts against persistence and realized "
                           "coverage of their intervals; input drift; by week",
                "responses": {
                    "200": {"description": "log counts; accuracy.overall and accuracy.weeks (scored, model_mae, "
                                           "persistence_mae, model_accuracy, persistence_accuracy) 1 day ahead; "
                                           "horizons[] the same with coverage80/coverage90 per horizon; "
                                           "drift.recent and drift.weeks (share of logged inputs outside the "
                                           "training range)",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Monitor"}}}},
                    "503": error_response("the model or the market store is not available"),
                }}},
            "/healthz": {"get": {"summary": "Health check",
                                 "responses": {"200": {"description": "model loaded; its version"},
                                               "503": {"description": "model not loaded; the reason"}}}},
        },
        "components": {"schemas": {"Item": item, "Answer": answer, "Error": error, "Coin": COIN,
                                   "HistoryRow": HISTORY_ROW, "CoinForecast": COIN_FORECAST, "Monitor": MONITOR}},
    }
