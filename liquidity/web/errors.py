"""One error handler for every 4xx/5xx: the site's error page, or JSON under /api/ and /healthz; a store failure
anywhere in a view is a 503 whose reason goes to the log, not to the client."""

import logging

from flask import render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge, TooManyRequests

from liquidity.store import StoreError
from liquidity.web.ratelimit import per_process_limits, retry_after_seconds
from liquidity.web.services import StoreUnavailable

log = logging.getLogger("liquidity.web")

TITLES = {400: "Bad request", 404: "Page not found", 405: "Method not allowed", 410: "No longer available",
          413: "Upload too large", 415: "Unsupported media type", 429: "Too many requests", 500: "Something went wrong",
          503: "Model unavailable"}
# The reason (which may name the database's host) is in the server's log, not in the answer.
STORE_UNAVAILABLE = "The market store cannot be read right now; the operator can see why in the logs."
# What exists, for the 404 answer: (endpoint, what it is) for people, (method, path, what) for programs.
SITE_PAGES = (
    ("home.index", "Forecast one coin from its 24h volume, market cap, 1h change and price"),
    ("coins.index", "Every stored coin with its score today and its forecast"),
    ("monitor.index", "How past forecasts turned out, against persistence"),
    ("alerts.index", "Alert rules on coins about to dry up, and the alerts raised"),
    ("batch.upload", "Score a whole snapshot CSV and download the result"),
    ("model.card", "The model card: data, accuracy next to its baselines, features"),
    ("report.index", "The exploratory data report"),
    ("docs.api", "The JSON API, for programs"),
)
API_ENDPOINTS = (
    ("POST", "/api/v1/predict", "score one object or a list"),
    ("GET", "/api/v1/model", "the model card"),
    ("GET", "/api/v1/coins", "the latest stored market with each coin's forecast"),
    ("GET", "/api/v1/coins/<coin_id>", "a coin's stored history (?days=)"),
    ("GET", "/api/v1/coins/<coin_id>/forecast", "a coin's forecast from its history"),
    ("GET", "/api/v1/monitor", "realized accuracy and input drift by week"),
    ("GET", "/api/v1/alerts", "the alert rules and the alerts raised (POST adds a rule)"),
    ("GET", "/api/v1/alerts/<id>", "one alert rule and its alerts (DELETE deletes it)"),
    ("GET", "/api/v1/openapi.json", "the OpenAPI document"),
    ("GET", "/healthz", "health check"),
)


def wants_json():
    """Return True for requests from programs: the JSON API and the health check."""
    return request.path.startswith("/api/") or request.path == "/healthz"


def describe(error, max_bytes):
    """Return the message a person (or program) should read for error."""
    if isinstance(error, CSRFError):
        return "The form was not sent from this site or has expired. Reload the page and send it again."
    if isinstance(error, RequestEntityTooLarge) and error.description == RequestEntityTooLarge.description:
        limit = f"{max_bytes / 1024 / 1024:g} MB" if max_bytes else "the limit"
        return f"The request is larger than the {limit} upload limit. Send a smaller file or fewer rows."
    if isinstance(error, TooManyRequests):
        message = f"Too many requests from your address (limit: {error.description}). Wait a moment and try again."
        if per_process_limits():
            message += (" Each of this server's worker processes counts on its own, so the limit holds per worker: "
                        "over all of them a client may get up to the limit times their number.")
        return message
    if error.code == 500:
        return "An unexpected error happened on our side. It has been logged; please try again."
    return error.description


def handle_error(error):
    """Render error without a stack trace; any non-HTTP exception becomes a logged 500."""
    if not isinstance(error, HTTPException):
        log.exception("unhandled error on %s %s", request.method, request.path)
        error = InternalServerError()
    code = error.code or 500
    title = "Market store unavailable" if isinstance(error, StoreUnavailable) else TITLES.get(code, error.name)
    message = describe(error, request.max_content_length)
    # Keep Allow on a 405 (the only header of the error worth passing on; its Content-Type is replaced).
    headers = {name: value for name, value in error.get_headers() if name == "Allow"}
    retry_after = retry_after_seconds() if code == 429 else None
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if wants_json():
        body = {"error": title, "message": message}
        if retry_after is not None:
            body["retry_after"] = retry_after
        if code == 404:
            body["endpoints"] = [f"{method} {path}" for method, path, _ in API_ENDPOINTS]
        return body, code, headers
    return render_template("errors/error.html", code=code, title=title, message=message,
                           retry_after=retry_after, pages=SITE_PAGES if code == 404 else ()), code, headers


def handle_store_error(error):
    """Answer a store failure (StoreError raised anywhere in a view) with the 503 page or JSON; log the reason."""
    log.error("market store unavailable on %s %s: %s", request.method, request.path, error)
    return handle_error(StoreUnavailable(STORE_UNAVAILABLE))


def init_app(app):
    """Register handle_error for every HTTP error and for unexpected exceptions, handle_store_error for the store."""
    app.register_error_handler(StoreError, handle_store_error)
    app.register_error_handler(HTTPException, handle_error)
    app.register_error_handler(Exception, handle_error)
