"""The OpenAPI 3.1 document of the JSON API."""

import copy

from liquidity.schema import INPUTS, json_schema
from liquidity.web.formatting import TURNOVER_NOTE
from liquidity.web.market import (
    CAP_BAND_NAMES,
    CROSSINGS,
    LEVELS,
    MAX_DAYS,
    MAX_PAGE,
    MAX_PER_PAGE,
    PER_PAGE,
    SORT_COLUMNS,
)


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
OUTCOME = {"type": "object", "description": "what happened next: the coin's score on target_date and whether each "
                                            "interval held it; null while that date has no stored snapshot",
           "properties": {
               "known": {"type": "boolean", "description": "true once target_date's snapshot is stored"},
               "realized_date": {"type": ["string", "null"], "format": "date"},
               "realized_score": {"type": ["number", "null"], "description": "the score on realized_date, 0..1"},
               "inside_80": {"type": ["boolean", "null"], "description": "the 80 % interval held the score"},
               "inside_90": {"type": ["boolean", "null"], "description": "the 90 % interval held the score"}}}
HORIZON_FORECAST = {"type": "object", "description": "the forecast at one horizon", "properties": {
    "horizon": {"type": "integer", "enum": list(HORIZONS), "description": "calendar days ahead"},
    "target_date": {"type": "string", "format": "date", "description": "the date the forecast is for"},
    "forecast_score": _number("forecast score on target_date, 0..1"),
    "level": {"type": "string", "enum": ["High", "Low"]},
    "interval_80": _interval(80, "this horizon"), "interval_90": _interval(90, "this horizon"),
    "outcome": OUTCOME}}
COIN = {"type": "object", "properties": {
    "coin_id": {"type": "string"}, "coin": {"type": "string"}, "symbol": {"type": "string"},
    "score": _number("liquidity score today: the coin's turnover rank within its snapshot, 0..1"),
    "level_today": {"type": ["string", "null"], "enum": ["High", "Low", None],
                    "description": "today's score on the model's threshold"},
    "forecast_score": _number("forecast score at the chosen horizon (?horizon=, default 1 day ahead), 0..1"),
    "level": {"type": "string", "enum": ["High", "Low"]},
    "change": _number("forecast_score minus score: negative when the coin is forecast to become less liquid"),
    "band": BAND,
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
    "interval_80": _interval(80, "horizon"), "interval_90": _interval(90, "horizon"), "outcome": OUTCOME,
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
                     "recent": {"type": "object", "description": "the page's sentence: over the forecasts made "
                                "from the snapshots of the last `days` (30) days up to the newest scored one "
                                "(first_date .. last_date): scored, model_mae, persistence_mae, improvement (1 - "
                                "model_mae / persistence_mae: 0.25 = the model's error is 25 % smaller), rows80, "
                                "coverage80; null when nothing is scored"},
                     "weeks": {"type": "array", "description": "the same figures per week (Monday), oldest first, "
                               "with model_versions", "items": {"type": "object"}}}}},
    "drift": {"type": "object", "properties": {"recent_days": {"type": "integer"}, "recent": {"type": "object"},
                                               "weeks": {"type": "array"}, "ranges": {"type": "object"},
                                               "unused": {"type": "array", "items": {"type": "string"},
                                                          "description": "inputs the model does not use (never in "
                                                                         "its training data, e.g. 1h): not drift; "
                                                                         "their outside and share are null"}}},
    "backtest": {"type": "object", "description": "the backtest of the model over the stored history, kept apart from "
                 "the live log (python -m liquidity import --backtest, or the monitor page's button)", "properties": {
                     "runs": {"type": "array", "description": "per model version: forecasts, scored, first_date, "
                              "last_date, ran_at", "items": {"type": "object"}},
                     "current": {"type": ["object", "null"], "description": "the current model's run, or null"},
                     "horizons": {"type": ["array", "null"], "description": "the current model's backtest figures "
                                  "per horizon, shaped as horizons[]; null without a run"}}},
    "log_writes_this_worker": {"type": "object", "description": "forecasts this worker logged, and failed to"}}}


# Text with something besides spaces and no control characters, as liquidity/alerts.py checks it.
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
# http(s), a host, an optional port 1..65535, then a path without spaces (liquidity/alerts.py's check_url).
WEBHOOK_PATTERN = (r"^https?://[^\s/?#@:\[\]\x00-\x1f\x7f]+"
                   r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?"
                   r"([/?#][^\s\x00-\x1f\x7f]*)?$")
ALERT_RULE_INPUT = {"type": "object", "required": ["name", "horizon", "condition"], "additionalProperties": False,
                    "properties": {
    "name": {"type": "string", "maxLength": 100, "pattern": TEXT_PATTERN,
             "description": "how the rule's alerts are titled"},
    "coins": {"type": ["array", "null"], "items": {"type": "string", "maxLength": 200, "pattern": TEXT_PATTERN},
              "minItems": 1, "maxItems": 500,
              "description": "the coin ids to watch (as in /api/v1/coins); null or absent: every coin"},
    "horizon": {"type": "integer", "enum": [1, 7, 30], "description": "calendar days ahead of the forecast checked"},
    "condition": {"type": "string", "enum": ["turns_low", "drop", "upper_below"],
                  "description": "turns_low: High today, Low forecast; drop: the forecast score is more than value "
                                 "below today's; upper_below: the 80 % interval's upper end is below value"},
    "value": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1,
              "description": "X of drop (a score difference) or Y of upper_below (a score); null for turns_low"},
    "webhook_url": {"type": ["string", "null"], "format": "uri", "maxLength": 2000, "pattern": WEBHOOK_PATTERN,
                    "description": "http:// or https:// URL that receives each alert as a JSON POST (a short timeout, "
                                   "retries with back-off); absent: shown on /alerts only"}},
    # turns_low takes no number; drop and upper_below need one.
    "if": {"properties": {"condition": {"const": "turns_low"}}},
    "then": {"properties": {"value": {"type": "null"}}},
    "else": {"required": ["value"], "properties": {"value": {"type": "number"}}},
    "example": {"name": "Our coins going dry", "coins": ["bitcoin", "tether"], "horizon": 7, "condition": "drop",
                "value": 0.2, "webhook_url": "https://hooks.example.com/liquidity"}}
ALERT_RULE = {"type": "object", "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}, "coins": {"type": ["array", "null"]},
    "horizon": {"type": "integer"}, "condition": {"type": "string"}, "condition_meaning": {"type": "string"},
    "value": {"type": ["number", "null"]},
    "webhook": {"type": ["string", "null"], "description": "the webhook's scheme and host only (its path may be a "
                                                          "secret)"},
    "description": {"type": "string", "description": "what the rule watches, in words"},
    "created_at": {"type": "string", "format": "date-time"}}}
ALERT = {"type": "object", "description": "an alert raised by the daily run, once per rule, coin, snapshot and horizon",
         "properties": {
    "id": {"type": "integer"}, "rule_id": {"type": ["integer", "null"], "description": "null once the rule is deleted"},
    "rule_name": {"type": "string"}, "coin_id": {"type": "string"},
    "snapshot_date": {"type": "string", "format": "date"}, "horizon": {"type": "integer"},
    "raised_at": {"type": "string", "format": "date-time"}, "message": {"type": "string"},
    "status": {"type": "string", "enum": ["shown", "pending", "sending", "delivered", "failed"],
               "description": "shown: the rule has no webhook; failed: see last_error"},
    "attempts": {"type": "integer", "description": "webhook attempts so far"},
    "last_error": {"type": ["string", "null"]}, "delivered_at": {"type": ["string", "null"], "format": "date-time"}}}


def alert_paths(error_response):
    """Return the OpenAPI paths of the alert rules."""
    rule_id = {"name": "rule_id", "in": "path", "required": True, "schema": {"type": "integer"},
               "description": "the rule's id"}
    alerts = {"type": "array", "description": "the newest alerts (up to 100), newest first",
              "items": {"$ref": "#/components/schemas/Alert"}}
    rule = {"$ref": "#/components/schemas/AlertRule"}
    unavailable = error_response("the market store cannot be read, or (for a change) does not accept writes")
    return {
        "/api/v1/alerts": {
            "get": {"summary": "The alert rules, newest first, and the newest alerts raised with their delivery",
                    "responses": {"200": {"description": "count, rules, alerts", "content": {"application/json": {
                        "schema": {"type": "object", "properties": {
                            "count": {"type": "integer"}, "rules": {"type": "array", "items": rule},
                            "alerts": alerts}}}}},
                        "503": unavailable}},
            "post": {"summary": "Add an alert rule: the daily run checks it against each day's forecasts",
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/AlertRuleInput"}}}},
                     "responses": {"201": {"description": "the rule saved (Location: its URL)",
                                           "content": {"application/json": {"schema": rule}}},
                                   "400": error_response("a field is missing or invalid (named in errors[].path)"),
                                   "404": error_response("a coin of the watchlist is not in the market store "
                                                         "(named in errors[].path)"),
                                   "415": error_response("Content-Type is not application/json"),
                                   "503": unavailable}}},
        "/api/v1/alerts/{rule_id}": {
            "get": {"summary": "One alert rule and the newest alerts it raised", "parameters": [rule_id],
                    "responses": {"200": {"description": "rule, alerts", "content": {"application/json": {
                        "schema": {"type": "object", "properties": {"rule": rule, "alerts": alerts}}}}},
                        "404": error_response("no rule with this id"), "503": unavailable}},
            "delete": {"summary": "Delete an alert rule; the alerts it raised stay, under its name",
                       "parameters": [rule_id],
                       "responses": {"204": {"description": "deleted"},
                                     "404": error_response("no rule with this id"), "503": unavailable}}},
    }


# Freshness of every answer with market data (liquidity/web/caching.py).
FRESHNESS = {
    "as_of": {"type": ["string", "null"], "format": "date",
              "description": "the date of the stored snapshot the answer is from; null while the store is empty"},
    "age_days": {"type": ["integer", "null"], "description": "whole days from as_of to today (UTC)"},
    "generated_at": {"type": "string", "format": "date-time",
                     "description": "when the answer was made (UTC); a list or a history is made once per store "
                                    "version and day, then served as made"},
}
FRESH_PATHS = ("/api/v1/coins", "/api/v1/coins/{coin_id}", "/api/v1/coins/{coin_id}/forecast", "/api/v1/monitor")
# Every GET but the health check answers conditional requests (liquidity/web/caching.py).
CONDITIONAL_GETS = ("/api/v1/model", "/api/v1/openapi.json", *FRESH_PATHS)
CACHE_HEADERS = {
    "ETag": {"description": "a weak tag of this URL's answer (from the store's version, the model's version, the "
                            "day); send it back in If-None-Match with the same URL to get 304 while it holds",
             "schema": {"type": "string"}},
    "Last-Modified": {"description": "when this server first served the data the answer is made from (the "
                                     "OpenAPI document has none)",
                      "schema": {"type": "string"}},
    "Cache-Control": {"description": "public, max-age=<seconds until the server next checks the store for new "
                                     "data>; no-store on POST answers", "schema": {"type": "string"}},
}
IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"},
                 "description": "the ETag of an answer you kept: 304 with no body while the data is unchanged"}
RETRY_AFTER = {"description": "whole seconds to wait before trying again (only on 429 and 503; on 429 the same "
                              "number as the body's retry_after)", "required": True,
               "schema": {"type": "integer", "minimum": 1}}


def _with_caching(document):
    """Add the freshness fields, the conditional GETs (If-None-Match, ETag, 304) and Retry-After (on 429 and 503) to
    the document's paths; return a copy (the schemas are shared module constants)."""
    document = copy.deepcopy(document)
    components = document["components"]
    components.setdefault("headers", {}).update({**CACHE_HEADERS, "Retry-After": RETRY_AFTER})
    for path in FRESH_PATHS:
        schema = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        if "$ref" in schema:
            schema = components["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        schema["properties"].update(FRESHNESS)
    health = document["paths"]["/healthz"]["get"]["responses"]
    health["200"]["description"] += "; as_of (the latest stored snapshot's date), age_days and generated_at"
    for path in (path for path in CONDITIONAL_GETS if path in document["paths"]):
        operation = document["paths"][path]["get"]
        operation.setdefault("parameters", []).append(dict(IF_NONE_MATCH))
        responses = operation["responses"]
        responses["200"].setdefault("headers", {}).update(
            {name: {"$ref": f"#/components/headers/{name}"} for name in CACHE_HEADERS})
        responses["304"] = {"description": "not modified: the ETag sent in If-None-Match is still current; no body",
                            "headers": {name: {"$ref": f"#/components/headers/{name}"} for name in CACHE_HEADERS}}
    for methods in document["paths"].values():
        for operation in methods.values():
            for code in ("429", "503"):
                if code in operation["responses"]:
                    operation["responses"][code].setdefault("headers", {}).setdefault(
                        "Retry-After", {"$ref": "#/components/headers/Retry-After"})
    return document


CLIENT_ID = {"type": ["string", "number"],
             "description": "your own label for the object (a string or a finite number), echoed back on its answer"}
# Each may be null: the same as leaving it out.
COIN_KEYS = {
    "coin_id": {"type": ["string", "null"], "maxLength": 200,
                "description": "optional: the coin's id in the store; with the coin's stored values it is forecast "
                               "from its stored history (basis: history)"},
    "symbol": {"type": ["string", "null"], "maxLength": 200,
               "description": "optional: the coin's symbol, instead of coin_id"},
    "coin": {"type": ["string", "null"], "maxLength": 200,
             "description": "optional: the coin's name, instead of coin_id"},
    "date": {"type": ["string", "null"], "format": "date",
             "description": "optional: the stored snapshot the values are from (default: the latest)"},
}


def _query(name, schema, description):
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _path_coin():
    return {"name": "coin_id", "in": "path", "required": True, "schema": {"type": "string"}, "example": "bitcoin",
            "description": "the coin's id in the store (CoinGecko's id, e.g. bitcoin), or a symbol or name of the "
                           "latest snapshot, any case (BTC), when only one coin has it"}


# A path that names several coins (a symbol two coins share) answers 300 with the ids to choose from.
CHOICES = {"type": "object", "required": ["error", "message", "matches"], "properties": {
    "error": {"type": "string"}, "message": {"type": "string"},
    "matches": {"type": "array", "description": "the coins the path names, largest market cap first",
                "items": {"type": "object", "properties": {
                    "coin_id": {"type": "string"}, "coin": {"type": "string"}, "symbol": {"type": "string"},
                    "path": {"type": "string", "description": "this path with the coin's id"}}}}}}


def _choices_response():
    return {"description": "several coins have that symbol or name: matches lists their ids (use one in the path)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Choices"}}}}


def openapi_document(max_items):
    """Return the OpenAPI document as a dict: the operations with their rate limits, examples and common mistakes,
    then the caching headers and freshness fields."""
    return _with_caching(with_usage(_operations_document(max_items), max_items))


def _operations_document(max_items):
    """Return the OpenAPI document's operations, schemas and answers."""
    item = {
        "type": "object",
        "required": [spec.key for spec in INPUTS if not spec.optional],
        "properties": {**{spec.key: json_schema(spec) for spec in INPUTS}, **COIN_KEYS, "id": CLIENT_ID},
        "example": {spec.key: spec.example for spec in INPUTS},
    }
    item_errors = {"type": "object", "required": ["error", "errors"],
                   "description": "a list's item that was not scored, with why", "properties": {
                       "id": CLIENT_ID, "error": {"type": "string", "description": "what went wrong, in words"},
                       "errors": {"type": "array", "items": {"type": "object", "properties": {
                           "path": {"type": "string", "example": "$[3].mkt_cap"}, "reason": {"type": "string"}}}}}}
    answer = {
        "type": "object",
        "required": ["score", "level", "interval_80"],
        "properties": {
            "id": CLIENT_ID,
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
            "path": {"type": "string", "example": "$[3].mkt_cap"}, "reason": {"type": "string"}}}},
        "errors_total": {"type": "integer", "description": "errors found (errors lists the first 100)"},
        "retry_after": {"type": "integer", "description": "on a 429: seconds to wait, as the Retry-After header"},
        "endpoints": {"type": "array", "items": {"type": "string"}, "description": "on a 404: what exists"}}}

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
                "description": "A list is answered item by item, in order: each item's answer is its forecast or "
                               "its errors, with the item's own id echoed back when it has one. With ?atomic=true "
                               "one invalid item rejects the whole list (a 400 listing every error) and nothing is "
                               "scored.",
                "parameters": [_query("atomic", {"type": "boolean", "default": False},
                                      "true: reject the whole list when one object is invalid (nothing is scored); "
                                      "false (default): answer each object on its own")],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
                    {"$ref": "#/components/schemas/Item"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/Item"}, "minItems": 1,
                     "maxItems": max_items,
                     "description": "objects to score; one that is not a valid Item is answered in place with its "
                                    "errors (ItemErrors), or with ?atomic=true rejects the whole list"}]}}}},
                "responses": {
                    "200": {"description": "prediction (object sent) or predictions (list sent), with "
                                           "model_version and threshold",
                            "content": {"application/json": {"schema": {"type": "object", "properties": {
                                "model_version": {"type": "string"}, "threshold": {"type": "number"},
                                "horizon": {"type": "integer", "enum": [1],
                                            "description": "calendar days ahead: the four-input path forecasts "
                                                           "1 day ahead only"},
                                "target": {"type": "string", "description": "what is forecast, in words"},
                                "count": {"type": "integer", "description": "objects in the list"},
                                "scored": {"type": "integer", "description": "objects of the list scored"},
                                "failed": {"type": "integer", "description": "objects of the list not scored"},
                                "prediction": {"$ref": "#/components/schemas/Answer"},
                                "predictions": {"type": "array", "description": "one per object, in order",
                                                "items": {"anyOf": [{"$ref": "#/components/schemas/Answer"},
                                                                    {"$ref": "#/components/schemas/ItemErrors"}]}},
                            }}}}},
                    "400": error_response("malformed JSON, an invalid object (a list with ?atomic=true: any "
                                          "invalid object), more objects than maxItems, or atomic is not true or "
                                          "false; each error with its path and reason"),
                    "413": error_response("body above the upload limit (in bytes)"),
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
                    # Empty means "any", as the /coins page's form sends it.
                    _query("level", {"type": "string", "enum": ["", *LEVELS]},
                           "only coins whose forecast at horizon has this level (empty: any)"),
                    _query("crosses", {"type": "string", "enum": ["", *CROSSINGS]},
                           "only coins forecast to cross the threshold: down (High today, Low forecast) or up (Low "
                           "today, High forecast) (empty: any)"),
                    _query("cap", {"type": "string", "enum": ["", *CAP_BAND_NAMES]},
                           "only coins in this market-cap band: " + "; ".join(CAP_BAND_NAMES.values())
                           + " (empty: any)"),
                    _query("sort", {"type": "string", "enum": list(SORT_KEYS), "default": "mkt_cap"},
                           "sort key; change is the forecast minus today's score"),
                    _query("order", {"type": "string", "enum": ["asc", "desc"]},
                           "sort direction (default: asc for coin, symbol and change (the largest drops first), "
                           "else desc)"),
                    _query("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
                           "page number (past the last page: an empty coins list)"),
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
                    "300": _choices_response(),
                    "400": error_response("days is not a whole number from 1 to 3650"),
                    "404": error_response("no stored row of this coin in that period, or no coin with that id, "
                                          "symbol or name (the message says how to find one)"),
                }}},
            "/api/v1/coins/{coin_id}/forecast": {"get": {
                "summary": "Forecast a coin's score 1, 7 and 30 days ahead from its own stored history, with 80 % and "
                           "90 % intervals (logged)",
                "parameters": [_path_coin(), {**_query("date", {"type": "string", "format": "date"},
                                                       "snapshot date to forecast from (default: the latest "
                                                       "stored); a past date answers that day's forecast with its "
                                                       "outcome"),
                                              "examples": {"past": {"summary": "a past snapshot date",
                                                                    "value": "2024-03-01"},
                                                           "too early": {"summary": "before the first stored "
                                                                                    "snapshot: 404 naming date",
                                                                         "value": "0001-01-01"}}},
                               _query("horizon", HORIZON_PARAMETER,
                                      "calendar days ahead of the top-level forecast and of past; horizons lists "
                                      "every horizon either way")],
                "responses": {
                    "200": {"description": "the forecast at horizon with its intervals and outcome, the forecast at "
                                           "every horizon (horizons, each with its outcome), and the coin's last "
                                           "logged forecasts with their outcomes",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CoinForecast"}}}},
                    "400": error_response("date is not a date like 2024-03-16, or horizon is not one of the "
                                          "model's"),
                    "300": _choices_response(),
                    "404": error_response("the coin has no stored row on that date (a date before the first or "
                                          "after the latest stored snapshot included), or no coin with that id, "
                                          "symbol or name"),
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
            **alert_paths(error_response),
            "/healthz": {"get": {"summary": "Health check",
                                 "responses": {"200": {"description": "model loaded; its version"},
                                               "503": {"description": "model not loaded; the reason"}}}},
        },
        "components": {"schemas": {"Item": item, "Answer": answer,
                                   "ItemErrors": item_errors, "Error": error, "Coin": COIN,
                                   "HistoryRow": HISTORY_ROW, "CoinForecast": COIN_FORECAST, "Monitor": MONITOR,
                                   "Choices": CHOICES, "AlertRuleInput": ALERT_RULE_INPUT, "AlertRule": ALERT_RULE,
                                   "Alert": ALERT}},
    }


# --- rate limits, examples and common mistakes, added to every operation ------------------------------------------

RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": {"description": "calls allowed in the current window", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "calls left in the current window", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"description": "when the window resets, in Unix seconds", "schema": {"type": "integer"}},
}
# (what a client sends, what the API answers): each answer is the API's own, checked in tests/test_api_lookups.py.
COMMON_MISTAKES = (
    ("the key h1 instead of 1h (or market_cap for mkt_cap, volume_24h for 24h_volume, price_usd for price)",
     "400 naming the key: \"1h: is optional, but its value was sent under another key (found 'h1': the key is "
     "'1h')\""),
    ("1h as a percent (2.2) instead of a fraction (0.022)",
     "200 with a warning in the answer's warnings: divide by 100 if you meant 2.2 %"),
    ("a body without the header Content-Type: application/json", "415 saying which header to send"),
    ("?horizon=7d instead of ?horizon=7", "400: \"horizon: ... not '7d': write the number of days alone, e.g. 7\""),
    ("a symbol two coins share (e.g. /api/v1/coins/ALP/forecast)", "300 listing the matching coin ids"),
    ("GET /api/v1/predict (it takes POST), or any method an operation does not list",
     "405 in JSON, with the Allow header naming the methods it takes"),
    ("one bad object in a long list", "200: that object is answered with its errors, the others are scored (send "
                                      "?atomic=true to reject the whole list instead)"),
    ("more objects in a list than maxItems", "400: \"$: must hold at most 10,000 objects\""),
)
LIMITS_TEXT = ("Rate limits: calls to /api/ are limited per client address (default 120 per minute; the operator "
               "may set another). Each answer carries X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset; "
               "past the limit the answer is 429 with a Retry-After header (seconds) and the same number as "
               "retry_after in the body. /healthz is not limited.")
METHODS_TEXT = ("A method an operation does not list (e.g. DELETE) answers 405 in JSON with an Allow header; a path "
                "that does not exist answers 404 in JSON listing the endpoints.")

EXAMPLE_ANSWER = {"id": "order-17", "score": 0.91, "level": "High", "borderline": False,
                  "band": {"low": 0.84, "high": 0.95, "percentiles": [10, 90]},
                  "interval_80": {"low": 0.84, "high": 0.95}, "interval_90": {"low": 0.8, "high": 0.97},
                  "implied_next_day": {"liquidity_ratio": 0.045, "volume_usd": 34650000000.0},
                  "out_of_range": [], "warnings": []}
EXAMPLE_INTERVALS = {"interval_80": {"low": 0.62, "high": 0.81, "level": 80},
                     "interval_90": {"low": 0.58, "high": 0.84, "level": 90}}
EXAMPLE_OUTCOME = {"known": True, "realized_date": "2024-03-02", "realized_score": 0.74, "inside_80": True,
                   "inside_90": True}
EXAMPLE_UNKNOWN = {"known": False, "realized_date": None, "realized_score": None, "inside_80": None,
                   "inside_90": None}
EXAMPLE_COIN_FORECAST = {
    "model_version": "8a983eee3a76", "threshold": 0.5, "coin_id": "bitcoin", "coin": "Bitcoin", "symbol": "BTC",
    "date": "2024-03-01", "score": 0.71, "horizon": 1, "target_date": "2024-03-02", "forecast_score": 0.72,
    "level": "High", "band": {"low": 0.62, "high": 0.81, "percentiles": [10, 90]}, **EXAMPLE_INTERVALS,
    "outcome": EXAMPLE_OUTCOME,
    "horizons": [{"horizon": 1, "target_date": "2024-03-02", "forecast_score": 0.72, "level": "High",
                  **EXAMPLE_INTERVALS, "outcome": EXAMPLE_OUTCOME},
                 {"horizon": 7, "target_date": "2024-03-08", "forecast_score": 0.7, "level": "High",
                  **EXAMPLE_INTERVALS, "outcome": EXAMPLE_UNKNOWN}],
    "past": [{"date": "2024-03-01", "horizon": 1, "target_date": "2024-03-02", "forecast_score": 0.72,
              "score": 0.71, **EXAMPLE_INTERVALS, "realized_date": "2024-03-02", "realized_score": 0.74,
              "model_version": "8a983eee3a76"}]}
EXAMPLE_RULE = {"id": 3, "name": "Our coins going dry", "coins": ["bitcoin", "tether"], "horizon": 7,
                "condition": "drop", "condition_meaning": "the forecast score is more than value below today's",
                "value": 0.2, "webhook": "https://hooks.example.com",
                "description": "the forecast score drops by more than 0.2, 7 days ahead, for bitcoin, tether",
                "created_at": "2024-03-01T08:00:00+00:00"}
EXAMPLE_ALERT = {"id": 12, "rule_id": 3, "rule_name": "Our coins going dry", "coin_id": "tether",
                 "snapshot_date": "2024-03-02", "horizon": 7, "raised_at": "2024-03-02T06:10:00+00:00",
                 "message": "Tether: forecast 0.41 for 2024-03-09, 0.27 below today's 0.68", "status": "delivered",
                 "attempts": 1, "last_error": None, "delivered_at": "2024-03-02T06:10:01+00:00"}
# (method, path) -> (the request, as a client sends it; an example of the 200 answer). The numbers are made up.
EXAMPLES = {
    ("post", "/api/v1/predict"): (
        "POST /api/v1/predict with Content-Type: application/json and the body "
        '[{"id": "order-17", "price": 40859.46, "1h": 0.022, "24h_volume": 35000000000, "mkt_cap": 770000000000}, '
        '{"id": "order-18", "price": 0, "1h": 0.001, "24h_volume": 7810.13, "mkt_cap": 133599281}]',
        {"model_version": "8a983eee3a76", "threshold": 0.5, "horizon": 1,
         "target": "the coin's liquidity score in the next snapshot, 1 day ahead", "count": 2, "scored": 1,
         "failed": 1, "predictions": [EXAMPLE_ANSWER, {
             "id": "order-18", "error": "1 invalid value(s); this object was not scored.",
             "errors": [{"path": "$[1].price", "reason": "price must be greater than 0"}]}]}),
    ("get", "/api/v1/model"): (
        "GET /api/v1/model",
        {"name": "liquidity model", "model_version": "8a983eee3a76", "threshold": 0.5,
         "inputs": {"price": {"unit": "USD", "min": 0.0001, "max": 70000}}}),
    ("get", "/api/v1/coins"): (
        "GET /api/v1/coins?horizon=7&sort=forecast&per_page=1",
        {"date": "2024-03-02", "horizon": 7, "target_date": "2024-03-09", "horizons": [1, 7, 30],
         "model_version": "8a983eee3a76", "threshold": 0.5, "total": 3, "page": 1, "pages": 3, "per_page": 1,
         "coins": [{"coin_id": "bitcoin", "coin": "Bitcoin", "symbol": "BTC", "score": 0.71, "forecast_score": 0.7,
                    "level": "High", "band": {"low": 0.62, "high": 0.81, "percentiles": [10, 90]},
                    **EXAMPLE_INTERVALS, "volume_usd": 28000000000.0, "mkt_cap_usd": 1220000000000.0,
                    "price_usd": 62000.0}]}),
    ("get", "/api/v1/coins/{coin_id}"): (
        "GET /api/v1/coins/BTC?days=2",
        {"coin_id": "bitcoin", "coin": "Bitcoin", "symbol": "BTC", "days": 2, "end": "2024-03-02", "count": 1,
         "history": [{"date": "2024-03-02", "price_usd": 62000.0, "volume_usd": 28000000000.0,
                      "mkt_cap_usd": 1220000000000.0, "change_1h": None, "change_24h": None, "change_7d": None,
                      "turnover": 0.023, "score": 0.71}]}),
    ("get", "/api/v1/coins/{coin_id}/forecast"): (
        "GET /api/v1/coins/bitcoin/forecast?date=2024-03-01", EXAMPLE_COIN_FORECAST),
    ("get", "/api/v1/monitor"): (
        "GET /api/v1/monitor",
        {"model_version": "8a983eee3a76", "threshold": 0.5, "logged": {"total": 12, "scored": 4, "by_source": {}},
         "coverage_goal": 0.8, "levels": [80, 90]}),
    ("get", "/api/v1/alerts"): ("GET /api/v1/alerts", {"count": 1, "rules": [EXAMPLE_RULE], "alerts": [EXAMPLE_ALERT]}),
    ("post", "/api/v1/alerts"): (
        "POST /api/v1/alerts with Content-Type: application/json and the body "
        '{"name": "Our coins going dry", "coins": ["bitcoin", "tether"], "horizon": 7, "condition": "drop", '
        '"value": 0.2, "webhook_url": "https://hooks.example.com/liquidity"}', EXAMPLE_RULE),
    ("get", "/api/v1/alerts/{rule_id}"): ("GET /api/v1/alerts/3", {"rule": EXAMPLE_RULE, "alerts": [EXAMPLE_ALERT]}),
    ("delete", "/api/v1/alerts/{rule_id}"): ("DELETE /api/v1/alerts/3", None),
    ("get", "/api/v1/openapi.json"): ("GET /api/v1/openapi.json", {"openapi": "3.1.0", "paths": {}}),
    ("get", "/healthz"): ("GET /healthz", {"status": "ok"}),
}


def with_usage(document, max_items):
    """Add to document what every operation shares: the rate limits (429, Retry-After, X-RateLimit-*), a request and
    a success answer example, and the common mistakes with what the API answers to each."""
    mistakes = [(sent, answer.replace("10,000", f"{max_items:,}")) for sent, answer in COMMON_MISTAKES]
    document["info"]["description"] += " " + " ".join(
        (LIMITS_TEXT, METHODS_TEXT, "Common mistakes: " + "; ".join(f"{sent}: {answer}" for sent, answer in mistakes)
         + "."))
    document["info"]["x-common-mistakes"] = [{"sent": sent, "answer": answer} for sent, answer in mistakes]
    error = {"$ref": "#/components/schemas/Error"}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            request, answer = EXAMPLES.get((method, path), (None, None))
            responses = operation["responses"]
            if request is not None:
                operation["x-request-example"] = request
            if answer is not None:  # a 204 has no answer to show
                success = min(status for status in responses if status.startswith("2"))
                responses[success].setdefault("content", {}).setdefault("application/json", {})["example"] = answer
            if not path.startswith("/api/"):
                continue  # /healthz is not limited
            responses["429"] = {"description": "too many calls from this address: wait Retry-After seconds",
                                "headers": {"Retry-After": RETRY_AFTER},
                                "content": {"application/json": {"schema": error}}}
            for status, response in responses.items():
                if status.startswith("2"):
                    response.setdefault("headers", {}).update(RATE_LIMIT_HEADERS)
    return document
