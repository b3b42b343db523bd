"""One error handler for every 4xx/5xx: the site's error page, or JSON under /api/ and /healthz."""

import logging

from flask import render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge

log = logging.getLogger("liquidity.web")

TITLES = {400: "Bad request", 404: "Page not found", 405: "Method not allowed", 413: "Upload too large",
          415: "Unsupported media type", 500: "Something went wrong", 503: "Model unavailable"}


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
    if error.code == 500:
        return "An unexpected error happened on our side. It has been logged; please try again."
    return error.description


def handle_error(error):
    """Render error without a stack trace; any non-HTTP exception becomes a logged 500."""
    if not isinstance(error, HTTPException):
        log.exception("unhandled error on %s %s", request.method, request.path)
        error = InternalServerError()
    code = error.code or 500
    message = describe(error, request.max_content_length)
    # Keep Allow on a 405 (the only header of the error worth passing on; its Content-Type is replaced).
    headers = {name: value for name, value in error.get_headers() if name == "Allow"}
    if wants_json():
        body = {"error": TITLES.get(code, error.name), "message": message}
        return body, code, headers
    return render_template("errors/error.html", code=code, title=TITLES.get(code, error.name),
                           message=message), code, headers


def init_app(app):
    """Register handle_error for every HTTP error and for unexpected exceptions."""
    app.register_error_handler(HTTPException, handle_error)
    app.register_error_handler(Exception, handle_error)
