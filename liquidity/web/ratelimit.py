"""Rate limits per client address on the JSON API and the form submissions (Flask-Limiter).

Counters live in memory by default, and memory is per process: under gunicorn with N workers each worker counts
on its own, so a client gets up to N times the limit (the 429's message and the README say so).
LIQUIDITY_RATELIMIT_STORAGE_URL=redis://... shares them between workers and instances, exactly.

A Redis that fails or hangs must not stall the site: every Redis call gives up after REDIS_TIMEOUT_SECONDS, the
first failure switches this worker to in-memory counters (the same limits, counted per worker), and Flask-Limiter
asks Redis again after 1, 2, 4 ... 32 s and goes back to it once it answers. Its warnings (the outage, the
recovery) go to the app's JSON log. /healthz, static files and plain page views are not limited.
"""

import logging
import math
import time

from flask import current_app, g
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

# endpoint -> the methods its forms limit counts (each endpoint has its own budget)
# Each Redis call (and connect) gives up after this: a hung Redis costs a request at most this, once per worker,
# before the worker counts in memory.
REDIS_TIMEOUT_SECONDS = 0.25
LIMITED_FORMS = {
    "home.predict": ("POST",),
    "home.result": ("GET",),
    "batch.scored": ("POST",),
    "batch.download": ("GET",),
    "live.fill": ("GET",),
    "alerts.create": ("POST",),
    "alerts.delete": ("POST",),
}


def api_limit():
    """Return the API's limit from the config, read per request."""
    return current_app.config["RATELIMIT_API"]


def forms_limit():
    """Return each form endpoint's limit from the config, read per request."""
    return current_app.config["RATELIMIT_FORMS"]


def init_app(app):
    """Limit the API blueprint and the form endpoints of app; call after the blueprints are registered.

    One Limiter per app rather than one module-level instance: Flask-Limiter keeps its storage and its
    on/off switch on the instance, so a shared one would let the last app created (tests create many)
    decide for all of them.
    """
    # Registered before the limiter's own after_request, so it runs after it (Flask runs them in reverse): the
    # Retry-After header is the one the error body gives, not a second computation a second apart.
    app.after_request(_agree_retry_after)
    redis = not app.config["RATELIMIT_STORAGE_URI"].startswith("memory://")
    limiter = Limiter(key_func=get_remote_address, headers_enabled=True,
                      # A Redis outage must not turn a request into a 500 or a wait: short timeouts, then memory.
                      swallow_errors=True, in_memory_fallback_enabled=True,
                      storage_options={"socket_timeout": REDIS_TIMEOUT_SECONDS,
                                       "socket_connect_timeout": REDIS_TIMEOUT_SECONDS} if redis else None)
    limiter.init_app(app)
    _log_through_the_app(limiter)
    app.extensions["liquidity_limiter"] = limiter
    limiter.limit(api_limit)(app.blueprints["api"])
    for endpoint, methods in LIMITED_FORMS.items():
        view = app.view_functions[endpoint]  # a KeyError here: an endpoint was renamed and would go unlimited
        app.view_functions[endpoint] = limiter.limit(forms_limit, methods=list(methods))(view)
    return limiter


def _log_through_the_app(limiter):
    """Send Flask-Limiter's warnings (a storage outage, its recovery) to the app's JSON log handler: its own logger
    has only a NullHandler, so an outage went unseen."""
    from liquidity.web.observability import log as app_log

    for handler in app_log.handlers:
        if handler not in limiter.logger.handlers:
            limiter.logger.addHandler(handler)
    limiter.logger.setLevel(logging.INFO)
    limiter.logger.propagate = False


def per_process_limits():
    """Return True when this app counts its limits in its own memory: per worker under gunicorn (or while Redis is
    out, the in-memory fallback)."""
    limiter = current_app.extensions.get("liquidity_limiter")
    if limiter is None:
        return False
    return current_app.config["RATELIMIT_STORAGE_URI"].startswith("memory://") or limiter._storage_dead


def retry_after_seconds():
    """Return the whole seconds until the breached limit of this request resets (at least 1), or None.

    Rounded up: a client that waits this long finds the window reset. The 429 answer's Retry-After header carries
    the same number (_agree_retry_after).
    """
    limiter = current_app.extensions.get("liquidity_limiter")
    current = limiter.current_limit if limiter else None
    if current is None:
        return None
    g.retry_after = max(1, math.ceil(current.reset_at - time.time()))
    return g.retry_after


def _agree_retry_after(response):
    retry_after = g.get("retry_after")
    if response.status_code == 429 and retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    elif response.status_code == 503:
        # Not the limiter's window: the soonest a store fault clears is the server's next check of the store.
        response.headers["Retry-After"] = str(max(1, math.ceil(current_app.config["STORE_CHECK_SECONDS"])))
    elif response.status_code != 429:
        # Flask-Limiter sends its window's reset as Retry-After on every answer; a client reads it as "come back
        # later", which only a 429 or a 503 means.
        response.headers.pop("Retry-After", None)
    return response
