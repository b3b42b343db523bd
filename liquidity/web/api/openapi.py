"""The OpenAPI 3.1 document of the JSON API."""

from liquidity.schema import INPUTS, json_schema
from liquidity.web.formatting import TURNOVER_NOTE


def _number(description, **bounds):
    return {"type": "number", "description": description, **bounds}


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
                                + TURNOVER_NOTE},
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
            "/healthz": {"get": {"summary": "Health check",
                                 "responses": {"200": {"description": "model loaded; its version"},
                                               "503": {"description": "model not loaded; the reason"}}}},
        },
        "components": {"schemas": {"Item": item, "Answer": answer, "Error": error}},
    }
