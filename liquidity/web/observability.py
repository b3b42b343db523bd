"""Security headers on every response and one JSON log line per request, carrying its prediction if it made one."""

import json
import logging
import sys
import time

from flask import g, request

log = logging.getLogger("liquidity.web")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
# A year, the usual minimum of browsers' preload lists; no includeSubDomains: the domain's other hosts may not be ours.
HSTS = "max-age=31536000"


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message and any `fields` passed in extra."""

    _second, _stamp = None, ""

    def format(self, record):
        second = int(record.created)
        if second != self._second:  # a thousand lines a second share one formatted time
            self._second, self._stamp = second, self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
        entry = {"time": self._stamp, "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log_event(event, **fields):
    """Log one JSON line for event with fields (never secrets)."""
    if log.isEnabledFor(logging.INFO):
        # The record made directly: logging's search of the stack for the caller's file and line, which no
        # JSON line shows, took a fifth of each line's time.
        log.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, event, (), None,
                                  extra={"fields": {"event": event, **fields}}))


def log_prediction(**fields):
    """Put a prediction's fields (never secrets) on this request's log line, written as the request ends."""
    g.log_prediction = fields


def init_app(app):
    """Configure the JSON logger and add timing, request logs and security headers."""
    if not any(getattr(handler, "_liquidity", False) for handler in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._liquidity = True
        log.addHandler(handler)
    log.setLevel(app.config["LOG_LEVEL"])
    log.propagate = False

    production = app.config["LIQUIDITY_ENV"] == "production"

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def finish(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if production and request.is_secure:
            # Only on https: a browser ignores HSTS on http, and a development server has no certificate to insist on.
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        started = g.get("started")
        duration = round((time.perf_counter() - started) * 1000, 2) if started else None
        fields = {"method": request.method, "path": request.path, "status": response.status_code,
                  "duration_ms": duration}
        prediction = g.pop("log_prediction", None)
        if prediction is not None:  # one line per request: a second line per prediction cost 5 % of the API's rate
            fields["prediction"] = prediction
        log_event("request", **fields)
        return response
