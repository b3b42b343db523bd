"""Security headers on every response and one JSON log line per request and per prediction."""

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


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message and any `fields` passed in extra."""

    def format(self, record):
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log_event(event, **fields):
    """Log one JSON line for event with fields (never secrets)."""
    log.info(event, extra={"fields": {"event": event, **fields}})


def init_app(app):
    """Configure the JSON logger and add timing, request logs and security headers."""
    if not any(getattr(handler, "_liquidity", False) for handler in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._liquidity = True
        log.addHandler(handler)
    log.setLevel(app.config["LOG_LEVEL"])
    log.propagate = False

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def finish(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        started = g.get("started")
        duration = round((time.perf_counter() - started) * 1000, 2) if started else None
        log_event("request", method=request.method, path=request.path, status=response.status_code,
                  duration_ms=duration)
        return response
