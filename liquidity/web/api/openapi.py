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
BAND = {"type": "object", "description": "10th-90th percentile of the forest's trees",
        "properties": {"low": {"type": "number"}, "high": {"type": "number"},
                       "percentiles": {"type": "array", "items": {"type": "integer"}}}}
COIN = {"type": "object", "properties": {
    "coin_id": {"type": "string"}, "coin": {"type": "string"}, "symbol": {"type": "string"},
    "score": _number("liquidity score today: the coin's turnover rank within its snapshot, 0..1"),
    "forecast_score": _number("forecast score in the next snapshot, 0..1"),
    "level": {"type": "string", "enum": ["High", "Low"]}, "band": BAND,
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
    "score": _number("score on date"), "forecast_score": _number("forecast score in the next snapshot"),
    "level": {"type": "string", "enum": ["High", "Low"]}, "band": BAND,
    "past": {"type": "array", "description": "the coin's last logged forecasts, newest first",
             "items": {"type": "object", "properties": {
                 "date": {"type": "string"}, "forecast_score": {"type": "number"},
                 "score": {"type": ["number", "null"]}, "realized_date": {"type": ["string", "null"]},
                 "realized_score": {"type": ["number", "null"]}, "model_version": {"type": "string"}}}}}}
MONITOR = {"type": "object", "properties": {
    "model_version": {"type": "string"}, "threshold": {"type": "number"},
    "logged": {"type": "object", "properties": {"total": {"type": "integer"}, "scored": {"type": "integer"},
                                                "by_source": {"type": "object"}}},
    "accuracy": {"type": "object", "properties": {"overall": {"type": "object"}, "weeks": {"type": "array"}}},
    "drift": {"type": "object", "properties": {"recent_days": {"type": "integer"}, "recent": {"type": "object"},
                                               "weeks": {"type": "array"}, "ranges": {"type": "object"}}},
    "log_writes_this_worker": {"type": "object", "description": "forecasts this worker logged, and failed to"}}}


def _query(name, schema, description):
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _path_coin():
    return {"name": "coin_id", "in": "path", "required": True, "schema": {"type": "string"},
            "description": "the coin's id in the store (CoinGecko's id, e.g. bitcoin)"}


def openapi_document(max_items):
    """Return the OpenAPI document as a dict."""
    item = {
        "type": "object",
        "required": [spec.key for spec in INPUTS],
        "properties": {spec.key: json_schema(spec) for spec in INPUTS},
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
                           "description": "the 10-90 % band reaches both sides of the threshold: the level could "
                                          "go either way"},
            "band": {"type": "object", "description": "10th-90th percentile of the forest's trees",
                     "properties": {"low": {"type": "number"}, "high": {"type": "number"},
                                    "percentiles": {"type": "array", "items": {"type": "integer"}}}},
            "implied_next_day": {"type": "object", "properties": {
                "liquidity_ratio": _number("24h volume / market cap that the score maps to in the reference "
                                           "snapshot"),
                "volume_usd": _number("that ratio times the given market cap")}},
            "out_of_range": {"type": "array", "items": {"type": "string"},
                             "description": "inputs outside the range seen in training"},
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
                 "description": "Forecast a coin's liquidity score in the next market snapshot. "
                                + TURNOVER_NOTE + " " + RATE_LIMIT_NOTE},
        "paths": {
            "/api/v1/predict": {"post": {
                "summary": f"Score one object or a list of up to {max_items} objects",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
                    {"$ref": "#/components/schemas/Item"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/Item"}, "minItems": 1,
                     "maxItems": max_items}]}}}},
                "responses": {
                    "200": {"description": "prediction (object sent) or predictions (list sent), with "
                                           "model_version and threshold",
                            "content": {"application/json": {"schema": {"type": "object", "properties": {
                                "model_version": {"type": "string"}, "threshold": {"type": "number"},
                                "count": {"type": "integer"},
                                "prediction": {"$ref": "#/components/schemas/Answer"},
                                "predictions": {"type": "array", "items": {"$ref": "#/components/schemas/Answer"}},
                            }}}}},
                    "400": error_response("malformed JSON or invalid values (each with its path and reason)"),
                    "413": error_response("body above the upload limit or too many objects"),
                    "415": error_response("Content-Type is not application/json"),
                    "503": error_response("the model is not loaded"),
                }}},
            "/api/v1/model": {"get": {"summary": "The model card: inputs with units and training ranges, "
                                                 "metrics, version",
                                      "responses": {"200": {"description": "model card"},
                                                    "503": error_response("the model is not loaded")}}},
            "/api/v1/coins": {"get": {
                "summary": "The latest stored snapshot: every coin with its score today and its forecast",
                "parameters": [
                    _query("q", {"type": "string", "maxLength": 100}, "search in coin name, symbol or id"),
                    _query("sort", {"type": "string", "enum": list(SORT_KEYS), "default": "mkt_cap"}, "sort key"),
                    _query("order", {"type": "string", "enum": ["asc", "desc"]},
                           "sort direction (default: asc for coin and symbol, else desc)"),
                    _query("page", {"type": "integer", "minimum": 1, "default": 1}, "page number"),
                    _query("per_page", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE,
                                        "default": PER_PAGE}, "coins per page")],
                "responses": {
                    "200": {"description": "date, model_version, threshold, total, page, pages, per_page, coins",
                            "content": {"application/json": {"schema": {"type": "object", "properties": {
                                "date": {"type": "string", "format": "date"}, "model_version": {"type": "string"},
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
                "summary": "Forecast a coin's next-snapshot score from its own stored history (logged)",
                "parameters": [_path_coin(), _query("date", {"type": "string", "format": "date"},
                                                    "snapshot date to forecast from (default: the latest stored)")],
                "responses": {
                    "200": {"description": "the forecast, its band, and the coin's last logged forecasts with their "
                                           "outcomes",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CoinForecast"}}}},
                    "400": error_response("date is not a date like 2024-03-16"),
                    "404": error_response("the coin has no stored row on that date"),
                    "503": error_response("the model or the market store is not available"),
                }}},
            "/api/v1/monitor": {"get": {
                "summary": "Realized accuracy of the logged forecasts against persistence, and input drift, by week",
                "responses": {
                    "200": {"description": "log counts; accuracy.overall and accuracy.weeks (scored, model_mae, "
                                           "persistence_mae, model_accuracy, persistence_accuracy); drift.recent and "
                                           "drift.weeks (share of logged inputs outside the training range)",
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
